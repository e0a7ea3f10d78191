"""The agent as a service object: everything the routes ask of it, and nothing of HTTP.

`Agent(settings)` holds the store, the task runner, the optional ComfyUI supervisor, the metrics and
the passthrough proxy. Routes (api.py) call its methods: `accept` a prompt, `follow` a task to its end,
`record` of a task, `cancel`, readiness. `start()` and `stop()` run from the ASGI lifespan events
(app.py); the first request starts an agent nobody started.

What a route shows of a task is what the shared store holds: a live task's `published` record (written
before it is shown), or the stored record, adopted as `agent restarted` when its agent is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from comfyweb.agent import orphans
from comfyweb.agent.bodies import parse_prompt, run_options
from comfyweb.agent.config import AgentSettings
from comfyweb.agent.errors import RequestError
from comfyweb.agent.metrics import AgentMetrics
from comfyweb.agent.previews import PreviewListener
from comfyweb.agent.proxy import ComfyProxy
from comfyweb.agent.runner import TaskRunner
from comfyweb.agent.stores import TaskStore, open_store
from comfyweb.agent.supervisor import ComfySupervisor, comfyui_answers
from comfyweb.agent.tasks import RunOptions, Task, TaskNotFound
from comfyweb.agent.ui_workflows import ObjectInfo, ui_workflow_of
from comfyweb.agent.webhooks import check_callback_url, deliver
from comfyweb.comfy.progress import is_final
from comfyweb.comfy.prompt import normalize_prompt
from comfyweb.core.fetch import FetchError

logger = logging.getLogger(__name__)

COMFYUI_PROBE_TTL = 1.0
STORE_POLL_SECONDS = 0.25  # how often a task running on another instance is read from the store


class Agent:
    """One agent instance in front of one ComfyUI."""

    def __init__(self, settings: AgentSettings, store: TaskStore | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(settings.store_url, ttl=settings.record_ttl)
        self.metrics = AgentMetrics(settings.concurrency)
        self.supervisor: ComfySupervisor | None = None
        if settings.comfyui_cmd:
            self.supervisor = ComfySupervisor(
                settings.comfyui_cmd,
                settings.comfyui_url,
                on_exit=self._comfyui_exited,
                on_restart=self._comfyui_restarted,
                start_timeout=settings.supervisor_start_timeout,
            )
        self.runner = TaskRunner(
            settings,
            self.store,
            self.metrics,
            wait_for_comfyui=self._wait_for_comfyui if self.supervisor else None,
            on_stall=self.supervisor.restart if self.supervisor else None,
            on_final=self._task_final,
            on_unavailable=self._comfyui_unreachable,
        )
        self.object_info = ObjectInfo(lambda: self.runner.comfy.object_info())
        self.proxy = ComfyProxy(settings.comfyui_url, timeout=settings.comfyui_request_timeout)
        self.warm = asyncio.Event()
        self.started = False
        self._start_lock = asyncio.Lock()
        self._probe: tuple[float, bool] = (0.0, False)
        self._warmup_task: asyncio.Task | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._start_lock:
            if self.started:
                return
            self.started = True
            if self.supervisor is not None:
                await self.supervisor.start()
            await self.runner.start()
            warmup = self.settings.warmup()
            if warmup is None:
                self.warm.set()
            else:
                self._warmup_task = asyncio.create_task(self._warm_up(warmup))
            logger.info(
                "GPU agent for %s: store %s, concurrency %s", self.settings.comfyui_url, self.settings.store_url,
                self.settings.concurrency,
            )  # fmt: skip

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        if self._warmup_task is not None:
            self._warmup_task.cancel()
        await self.runner.stop()
        if self.supervisor is not None:
            await self.supervisor.stop()
        await self.proxy.aclose()
        await self.store.close()

    async def _warm_up(self, path: Path) -> None:
        """Run the warm-up prompt once (loads models into VRAM); ready only after it has finished."""
        try:
            prompt = normalize_prompt(json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8")))
            task = await self.runner.submit(
                prompt, f"warmup-{self.settings.instance}", RunOptions(results=False, timeout=self.settings.max_timeout)
            )
            await task.done.wait()
            logger.info("warm-up finished: %s", task.status)
        except Exception:
            logger.exception("the warm-up prompt %s could not run", path)
        finally:
            self.warm.set()

    async def _wait_for_comfyui(self) -> None:
        assert self.supervisor is not None
        await self.supervisor.wait_until_up(self.settings.supervisor_start_timeout)

    async def _comfyui_exited(self, code: int | None) -> None:
        self.metrics.comfyui_up.set(0)
        self.object_info.forget()
        self.runner.comfyui_died(f"ComfyUI exited (code {code}) during the run; it is being restarted")

    def _comfyui_restarted(self) -> None:
        self.metrics.comfyui_restarts.inc()
        self.object_info.forget()

    def _comfyui_unreachable(self) -> None:
        """ComfyUI did not answer: it may come back as another one (other custom nodes)."""
        self.object_info.forget()

    async def _task_final(self, task: Task, record: dict) -> None:
        if task.options.callback_url:
            await deliver(
                task.options.callback_url,
                task.id,
                record["progress"],
                secret=self.settings.webhook_secret,
                policy=self.runner.policy.fetch_policy,
                retry_delay=self.settings.webhook_retry_delay,
            )

    # --- tasks ----------------------------------------------------------------------------------

    async def accept(
        self, body: Any, *, task_id: str | None, query: dict, headers: dict, stored_first: bool = True
    ) -> Task:
        """Validate a request's prompt (API or UI format) and options and submit it: `POST /api/run` and the WebSocket.

        Raises RequestError (400, 413), QueueFull (503) or TaskConflict (409).
        """
        workflow = ui_workflow_of(body)
        if workflow is None:
            prompt, warnings = parse_prompt(body, self.settings), []
        else:
            prompt, warnings = await self.object_info.convert(workflow, self.settings)
        options = run_options(self.settings, query, headers, body)
        if options.callback_url:
            try:
                await check_callback_url(options.callback_url, self.runner.policy.fetch_policy)
            except FetchError as exc:
                raise RequestError(f"callback URL refused: {exc}") from exc
        return await self.runner.submit(prompt, task_id, options, stored_first=stored_first, warnings=warnings)

    async def record(self, task_id: str) -> dict | None:
        """A task's record as the store holds it (adopted as `agent restarted` when its agent is gone)."""
        task = self.runner.tasks.get(task_id)
        if task is not None:
            return task.published  # None until its first record is written: no instance knows it yet
        record = await self.store.get(task_id)
        return None if record is None else await orphans.adopt_if_orphaned(self.store, record, self.settings)

    async def follow(self, task_id: str) -> AsyncIterator[tuple[str, dict]]:
        """("progress" | "final", record) for a task until its end: live when it runs here, else from the store.

        Raises TaskNotFound.
        """
        task = self.runner.tasks.get(task_id)
        if task is not None:
            queue = self.runner.records.subscribe(task)
            try:
                while True:
                    kind, record = await queue.get()
                    yield kind, record
                    if kind == "final":
                        return
            finally:
                self.runner.records.unsubscribe(task, queue)
        record = await self.store.get(task_id)
        if record is None:
            raise TaskNotFound(task_id)
        seen = None
        while True:
            record = await orphans.adopt_if_orphaned(self.store, record, self.settings)
            final = is_final(record.get("progress") or {})
            if final or record.get("updated_at") != seen:
                seen = record.get("updated_at")
                yield ("final" if final else "progress"), record
            if final:
                return
            await asyncio.sleep(STORE_POLL_SECONDS)
            record = await self.store.get(task_id) or record

    async def cancel(self, task_id: str) -> dict:
        """Cancel a task here or ask its instance to; raises TaskNotFound or TaskFinished."""
        return await self.runner.cancel(task_id)

    @contextlib.contextmanager
    def previews(self, task_id: str, listener: PreviewListener) -> Iterator[bool]:
        """Hand `listener` the live previews of a task running here; yields whether there are any to get."""
        task = self.runner.tasks.get(task_id)
        if task is None:
            yield False
            return
        self.runner.watch_previews(task, listener)
        try:
            yield True
        finally:
            self.runner.unwatch_previews(task, listener)

    async def outputs_read(self, task_id: str) -> None:
        """An answer carried a task's results: with `--outputs-after-read delete` its output files go."""
        if self.settings.outputs_after_read == "delete":
            await self.runner.delete_outputs(task_id)

    # --- readiness ------------------------------------------------------------------------------

    async def comfyui_up(self) -> bool:
        checked, up = self._probe
        if time.monotonic() - checked > COMFYUI_PROBE_TTL:
            if self.supervisor is not None and not self.supervisor.up.is_set():
                up = False
            else:
                up = await comfyui_answers(self.settings.comfyui_url, timeout=2.0)
            if not up:
                self.object_info.forget()
            self._probe = (time.monotonic(), up)
            self.metrics.comfyui_up.set(1 if up else 0)
        return up

    async def not_ready_reasons(self) -> list[str]:
        reasons = []
        if not await self.comfyui_up():
            reasons.append("ComfyUI is not answering")
        if not self.warm.is_set():
            reasons.append("the warm-up prompt has not finished")
        if self.runner.queue_full():
            reasons.append("the queue is full")
        try:
            await asyncio.wait_for(self.store.ping(), 3)
        except Exception as exc:
            reasons.append(f"the task store is unusable: {exc}")
        self.metrics.ready.set(0 if reasons else 1)
        return reasons

    async def refresh_gauges(self) -> None:
        await self.not_ready_reasons()
        self.metrics.queue_depth.set(self.runner.queue_depth)
        self.metrics.running_tasks.set(self.runner.running)
