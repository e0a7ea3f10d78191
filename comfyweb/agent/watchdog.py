"""What the agent checks twice a second, whatever its tasks are doing.

* stalls: a task on ComfyUI with no word from ComfyUI for `AGENT_STALL_SECONDS` fails (`stalled`), and
  a supervised ComfyUI is restarted;
* cancel requests another instance left in the store for a task running here;
* heartbeats: the record of every live task is rewritten at least every `heartbeat_seconds`, so no
  instance takes it for an orphan (orphans.py);
* every minute the outputs whose record expired are deleted; every ten minutes expired records are
  purged and the store's orphans adopted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from comfyweb.agent import orphans
from comfyweb.agent.stores import cancel_marker
from comfyweb.agent.tasks import Phase

if TYPE_CHECKING:
    from comfyweb.agent.runner import TaskRunner

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 0.5
SWEEP_SECONDS = 60.0  # outputs whose record expired are deleted this often
PURGE_SECONDS = 600.0  # expired records purged, orphans looked for, this often


async def watch(runner: TaskRunner) -> None:
    """The loop (cancelled when the runner stops); one failing check never stops the others."""
    next_purge = time.monotonic() + 60
    next_sweep = time.monotonic() + 5
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        try:
            await check_stalls(runner)
            await check_remote_cancels(runner)
            await heartbeat(runner)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_SECONDS
                await runner.discover_folders()
                await asyncio.to_thread(runner.janitor.sweep)
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_SECONDS
                await runner.store.purge_expired()
                await orphans.adopt_orphans(runner.store, runner.settings, runner.tasks)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("agent watchdog")


async def heartbeat(runner: TaskRunner) -> None:
    """Rewrite the record of every live task not written for `heartbeat_seconds`: proof of life."""
    now = time.monotonic()
    for task in list(runner.tasks.values()):
        if task.phase is not Phase.FINAL and now - task.saved_at >= runner.settings.heartbeat_seconds:
            await runner.records.save(task, change=False)


async def check_stalls(runner: TaskRunner) -> None:
    limit = runner.settings.stall_seconds
    if not limit:
        return
    now = time.monotonic()
    stalled = [
        task
        for task in runner.tasks.values()
        if task.phase is Phase.SUBMITTED and now - max(task.last_activity, runner.last_activity) > limit
    ]
    for task in stalled:
        logger.warning("task %s: no word from ComfyUI for %g s; failing it", task.id, limit)
        task.fail("stalled", f"ComfyUI sent nothing for {limit:g} s", limit="AGENT_STALL_SECONDS", seconds=limit)
        runner.abort(task, "stalled", "")
    if stalled and runner.on_stall is not None:
        await runner.on_stall()


async def check_remote_cancels(runner: TaskRunner) -> None:
    for task in list(runner.tasks.values()):
        if task.cancel_requested or task.phase is Phase.FINAL:
            continue
        marker = await runner.store.get(cancel_marker(task.id))
        if marker and marker.get("prompt_id") == task.prompt_id:
            task.remote_cancel = True
            runner.spawn(runner.cancel(task.id), f"agent-cancel-{task.id}")
