"""A task's records: written to the shared store first, shown after.

Whatever this instance shows of a task (`/api/status`, WebSocket frames, the answer of `/api/run`) is a
record already written to the store (`Task.published`), so another instance reading the store is never
behind it. Progress records are written in the background (the first at once, then at most every
PROGRESS_WRITE_SECONDS after the last write), with the changes made meanwhile coalesced; ComfyUI's messages are read on
without waiting for the store. A run's last messages (`executed`, then `execution_success`) come
together: the final record supersedes the pending progress one instead of waiting for it to be written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from comfyweb.agent.stores import TaskStore
from comfyweb.agent.tasks import Listener, Phase, Task

logger = logging.getLogger(__name__)

PROGRESS_WRITE_SECONDS = 0.02  # progress records are written (and shown) at most this often; the final one at once


class TaskRecords:
    """Writes tasks' records to `store` as `instance`, then shows them to the tasks' listeners."""

    def __init__(
        self, store: TaskStore, instance: str, spawn: Callable[[Coroutine[Any, Any, Any], str], object]
    ) -> None:
        self.store, self.instance, self.spawn = store, instance, spawn

    def subscribe(self, task: Task) -> Listener:
        """A queue that first holds the last written record, then every new one, then ("final", record)."""
        queue: Listener = asyncio.Queue()
        if task.published is not None:
            queue.put_nowait(("final" if task.done.is_set() else "progress", task.published))
        if not task.done.is_set():
            task.listeners.add(queue)
        return queue

    def unsubscribe(self, task: Task, queue: Listener) -> None:
        task.listeners.discard(queue)

    def announce(self, task: Task, record: dict) -> None:
        kind = "final" if record["phase"] == Phase.FINAL else "progress"
        for queue in list(task.listeners):
            queue.put_nowait((kind, record))

    async def save(self, task: Task, *, change: bool = True, strict: bool = False) -> None:
        """Write the task's record now (after a write in flight), then show it.

        `strict`: a store failure raises. `change=False` (a heartbeat) rewrites the record without telling
        listeners anything new.
        """
        if change:
            task.unannounced = True
        async with task.save_lock:
            task.dirty = False
            await self._write(task, strict)

    def save_soon(self, task: Task, *, at_once: bool | None = None) -> None:
        """Write the task's record shortly, in the background (module docstring).

        `at_once`: without the wait (by default only a task's first record, so callers learn of it).
        """
        task.unannounced = task.dirty = True
        at_once = task.published is None if at_once is None else at_once
        if at_once:
            task.hurry.set()  # a flush waiting out its delay writes now
        if not task.flushing:
            task.flushing = True
            self.spawn(self._flush(task), f"agent-save-{task.id}")

    async def _flush(self, task: Task) -> None:
        # At most one write per PROGRESS_WRITE_SECONDS, counted from the last one: a change after a quiet
        # spell (a sampler step every 100 ms) is written at once, a burst is coalesced.
        wait = PROGRESS_WRITE_SECONDS - (time.monotonic() - task.saved_at)
        if wait > 0 and not task.hurry.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await task.hurry.wait()
        task.hurry.clear()
        async with task.save_lock:
            task.flushing = False  # a change from now on starts another flush, written after this one
            if task.dirty and task.phase is not Phase.FINAL:
                task.dirty = False
                await self._write(task)

    async def _write(self, task: Task, strict: bool = False) -> None:
        announce, task.unannounced = task.unannounced, False
        record = task.record(self.instance)  # one snapshot, read-only for every reader
        task.saved_at = time.monotonic()
        try:
            await self.store.put(task.id, record)
        except Exception:
            logger.exception("could not store task %s", task.id)
            if strict:
                raise
            return
        task.published = record
        if announce:
            self.announce(task, record)
