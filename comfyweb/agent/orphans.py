"""The tasks of a dead agent process: found, ended as `agent restarted`, their traces cleared.

A killed agent (kill -9, out of memory, a node replaced) cannot fail its own tasks. The records of live
tasks are rewritten at least every `heartbeat_seconds`, so a queued or running record is an **orphan**
when the process that wrote it was on this machine and is gone (or had our very pid: a restarted
container), or when it has not been rewritten for `orphan_seconds`.

An orphan is stored failed with the error `agent restarted` (kind `restarted`) and its cancel request
removed. A starting agent adopts every orphan of the store before it serves anything, and for those a
dead process of this machine left on the same ComfyUI it takes their prompts off ComfyUI (a dead agent's
prompts would keep the GPU busy) and deletes their uploads, in the background; any instance adopts an
orphan it is asked about (`/api/status`, `/api/run/ws?id=`, a cancel), and the watchdog looks for more
every ten minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import time
from collections.abc import Container
from typing import TYPE_CHECKING

from comfyweb.agent.config import HOST_ID, AgentSettings
from comfyweb.agent.outcomes import RESTARTED_MESSAGE
from comfyweb.agent.stores import TaskStore, cancel_marker
from comfyweb.agent.tasks import Phase, fail_progress
from comfyweb.comfy.errors import ComfyError
from comfyweb.comfy.progress import is_final

if TYPE_CHECKING:
    from comfyweb.agent.runner import TaskRunner

logger = logging.getLogger(__name__)

RECOVERY_COMFYUI_TIMEOUT = 10.0


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this machine runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def orphaned(record: dict, settings: AgentSettings, now: float | None = None) -> bool:
    """Whether a stored record is queued/running for an agent process that is gone (module docstring)."""
    progress = record.get("progress") or {}
    if is_final(progress) or record.get("instance") == settings.instance:
        return False
    pid = record.get("pid")
    if record.get("host") == HOST_ID and isinstance(pid, int):
        if pid == os.getpid() or not process_alive(pid):
            return True
    now = time.time() if now is None else now
    return now - float(record.get("updated_at") or now) > settings.orphan_seconds


def mark_restarted(record: dict) -> dict:
    """The record of an orphaned task, failed with the error `agent restarted`."""
    record = copy.deepcopy(record)
    fail_progress(record.setdefault("progress", {}), "restarted", RESTARTED_MESSAGE, type="agent_restarted")
    record["phase"] = Phase.FINAL.value
    return record


async def adopt(store: TaskStore, record: dict) -> dict:
    """Store an orphaned record as failed with `agent restarted` and drop its cancel request."""
    failed = mark_restarted(record)
    await store.put(record["id"], failed)
    with contextlib.suppress(Exception):
        await store.delete(cancel_marker(record["id"]))
    logger.info("task %s: its agent is gone; marked failed (agent restarted)", record["id"])
    return failed


async def adopt_if_orphaned(store: TaskStore, record: dict, settings: AgentSettings) -> dict:
    """The record as it stands once checked: adopted (failed) when its agent is gone."""
    return await adopt(store, record) if orphaned(record, settings) else record


async def adopt_orphans(store: TaskStore, settings: AgentSettings, live: Container[str]) -> list[dict]:
    """Adopt every orphan of the store (the tasks in `live` run here); returns their records as they were."""
    adopted = []
    for record in await store.unfinished():
        if record.get("id") in live or not orphaned(record, settings):
            continue
        await adopt(store, record)
        adopted.append(record)
    if adopted:
        logger.warning("%d task(s) of a previous agent process marked failed (agent restarted)", len(adopted))
    return adopted


def left_on(records: list[dict], comfyui_url: str) -> list[dict]:
    """The orphans a dead process of this machine left on this ComfyUI: their prompts and uploads are ours."""
    return [record for record in records if record.get("host") == HOST_ID and record.get("comfyui") == comfyui_url]


async def recover(runner: TaskRunner) -> None:
    """At start: adopt the store's orphans, then clear in the background what this machine's dead left behind."""
    adopted = await adopt_orphans(runner.store, runner.settings, runner.tasks)
    runner.spawn(clear_left_behind(runner, left_on(adopted, runner.settings.comfyui_url)), "agent-recovery")


async def clear_left_behind(runner: TaskRunner, records: list[dict]) -> None:
    """Find ComfyUI's folders; take a dead predecessor's prompts off ComfyUI and delete its uploads."""
    if runner.wait_for_comfyui is not None:
        with contextlib.suppress(Exception):
            await runner.wait_for_comfyui()
    await runner.discover_folders()
    prompt_ids = {record["prompt_id"] for record in records if record.get("prompt_id")}
    if prompt_ids:
        try:
            async with asyncio.timeout(RECOVERY_COMFYUI_TIMEOUT):
                await runner.comfy.take_off(prompt_ids)
        except (TimeoutError, ComfyError, OSError) as exc:
            logger.warning("could not take a previous agent's prompts off ComfyUI: %s", exc)
    names = {name for record in records for name in (record.get("uploads") or {}).values()}
    runner.janitor.release_inputs(names, runner.inputs_in_use())
