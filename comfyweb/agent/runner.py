"""The agent's task queue: a bounded number of prompts on ComfyUI at once, each one stored as it goes.

A task is accepted (queued), waits for one of `concurrency` slots, has its input images
materialised, runs on ComfyUI through the protocol client (its own prompt id and socket, so
concurrent runs never share a stream), and ends succeeded, failed or cancelled. Every change
of its progress is written to the shared store, and only then shown to local listeners
(WebSockets, waiting `/api/run` requests) and `/api/status`: no instance reading the store is ever
behind what this one shows. The final record carries the base64 results when asked for.

Nothing is left `running` forever: a timeout (which counts the download of input URLs too)
interrupts the prompt, a silent ComfyUI is declared stalled, a crash of the supervised ComfyUI
fails the tasks that were on it, and stopping the agent fails whatever was still in flight. The
tasks of a dead agent process are ended, and what they left on ComfyUI cleared, by orphans.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from comfyweb.agent import orphans, watchdog
from comfyweb.agent.config import AgentSettings
from comfyweb.agent.files import FileJanitor, read_results
from comfyweb.agent.metrics import AgentMetrics
from comfyweb.agent.outcomes import outcome_of
from comfyweb.agent.previews import PreviewListener
from comfyweb.agent.records import TaskRecords
from comfyweb.agent.stores import TaskStore, cancel_marker, new_task_id
from comfyweb.agent.tasks import (
    Phase,
    QueueFull,
    RunOptions,
    Task,
    TaskConflict,
    TaskFinished,
    TaskNotFound,
    fail_progress,
)
from comfyweb.comfy.client import ComfyClient
from comfyweb.comfy.errors import ComfyError, ComfyHTTPError, ComfyTimeout, ComfyUnavailable, PromptValidationError
from comfyweb.comfy.inputs import (
    InputError,
    classify_image_value,
    has_url_inputs,
    image_values,
    materialize_image_inputs,
)
from comfyweb.comfy.progress import (
    CANCELLED,
    DOWNLOADING,
    QUEUED,
    SUCCEEDED,
    is_final,
    new_progress,
    output_images,
)
from comfyweb.comfy.prompt import randomize_seeds
from comfyweb.core.logging import bind_task

logger = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS = 3.0  # how long an interrupted prompt may take to say so before we stop waiting
TAKE_OFF_SECONDS = 5.0  # bound on taking a prompt off ComfyUI (best effort)


def task_timeout(task: Task) -> dict:
    seconds = task.options.timeout
    return {"kind": "timeout", "message": f"the task ran longer than its timeout ({seconds:g} s)",
            "limit": "timeout", "seconds": seconds}  # fmt: skip


class TaskRunner:
    """Runs tasks on one ComfyUI with `settings.concurrency` slots and a waiting line of `max_queue`."""

    def __init__(
        self,
        settings: AgentSettings,
        store: TaskStore,
        metrics: AgentMetrics | None = None,
        *,
        wait_for_comfyui: Callable[[], Awaitable[None]] | None = None,
        on_stall: Callable[[], Awaitable[None]] | None = None,
        on_final: Callable[[Task, dict], Awaitable[None]] | None = None,
        on_unavailable: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics or AgentMetrics(settings.concurrency)
        self.policy = settings.input_policy()
        self.slots = asyncio.Semaphore(max(1, settings.concurrency))
        self.tasks: dict[str, Task] = {}
        self.wait_for_comfyui = wait_for_comfyui
        self.on_stall = on_stall
        self.on_final = on_final
        self.on_unavailable = on_unavailable
        self.last_activity = time.monotonic()
        # One client (one connection pool) for every task: a run opens its own message socket anyway.
        self.comfy = ComfyClient(settings.comfyui_url, timeout=settings.comfyui_request_timeout)
        self.records = TaskRecords(store, settings.instance, self.spawn)
        self.janitor = FileJanitor(
            input_dir=settings.comfyui_input_dir,
            output_dir=settings.comfyui_output_dir,
            state_dir=settings.state_dir,
            record_ttl=settings.record_ttl,
            comfyui_url=settings.comfyui_url,
        )
        self._watchdog: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._spare: str | None = None  # a prompt id whose message socket is open, for the next task to run
        self._noting: dict[str, asyncio.Task] = {}  # task id → noting its outputs down, after its answer
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt what a dead predecessor left (before any request is served), then watch."""
        if self.comfy.http.is_closed:  # started again after a stop
            self.comfy = ComfyClient(self.settings.comfyui_url, timeout=self.settings.comfyui_request_timeout)
        self._stopping = False
        try:
            await orphans.recover(self)
        except Exception:
            logger.exception("could not look for the tasks of a previous agent process")
        self._spare = None  # opened with the first task (ComfyUI may not be up yet)
        self._watchdog = asyncio.create_task(watchdog.watch(self), name="agent-watchdog")

    async def stop(self) -> None:
        """Fail every task still in flight (never leave it `running` in the store) and stop."""
        self._stopping = True
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        live = list(self.tasks.values())
        for task in live:
            self.abort(task, "shutdown", "the agent stopped before the task finished")
        for task in live:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task.done.wait(), 10)
        if self._noting:  # outputs of answered tasks being noted down: finish that (a restart deletes them then)
            await asyncio.wait(list(self._noting.values()), timeout=10)
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.comfy.aclose()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run `work` in the background, kept until it ends (cancelled when the agent stops)."""
        job = asyncio.create_task(work, name=name)
        self._background.add(job)
        job.add_done_callback(self._background.discard)
        return job

    # --- counts ---------------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return sum(1 for task in self.tasks.values() if task.phase is Phase.QUEUED)

    @property
    def running(self) -> int:
        return sum(1 for task in self.tasks.values() if task.phase.on_comfyui)

    def queue_full(self) -> bool:
        return self.queue_depth >= self.settings.max_queue and self.running >= self.settings.concurrency

    def _update_gauges(self) -> None:
        self.metrics.queue_depth.set(self.queue_depth)
        self.metrics.running_tasks.set(self.running)

    # --- submitting -----------------------------------------------------------------------------

    async def submit(
        self,
        prompt: dict,
        task_id: str | None = None,
        options: RunOptions | None = None,
        *,
        stored_first: bool = True,
        warnings: Iterable[str] = (),
    ) -> Task:
        """Accept a prompt (already normalised); raises QueueFull or TaskConflict.

        `stored_first`: the task is in the store before this returns (an asynchronous caller is told
        to poll any instance for it). Otherwise its first record is written as ComfyUI starts its prompt
        (at once when it waits for a slot): nothing is written between a run's request and its POST.
        """
        task_id = task_id or new_task_id()
        if task_id in self.tasks:
            raise TaskConflict(f"task {task_id} is still in flight")
        if self.queue_full() or self._stopping:
            self.metrics.tasks.labels("rejected").inc()
            raise QueueFull("every ComfyUI slot is busy and the queue is full")
        prompt = copy.deepcopy(prompt)
        seeds = randomize_seeds(prompt)
        prompt_id = self._prompt_id()
        task = Task(
            id=task_id,
            prompt=prompt,
            options=options or RunOptions(results=self.settings.results_default, timeout=self.settings.timeout),
            prompt_id=prompt_id,
            progress=new_progress(prompt, prompt_id),
            seeds=seeds,
            warnings=list(warnings),
            comfyui_url=self.settings.comfyui_url,
        )
        self.tasks[task_id] = task
        self._update_gauges()
        if stored_first:
            try:
                await self.records.save(task, strict=True)
            except Exception:
                self.tasks.pop(task_id, None)
                self._update_gauges()
                raise
        task.worker = asyncio.create_task(self._run(task, first_save=not stored_first), name=f"agent-task-{task_id}")
        return task

    def _prompt_id(self) -> str:
        """The prompt id of a task: one whose message socket is open already, when the task runs at once.

        A task that waits for a slot gets a new one (its socket opens when it runs).
        """
        if self._spare is None or self.running >= self.settings.concurrency or self.queue_depth:
            return new_task_id()
        prompt_id, self._spare = self._spare, None  # another is opened once this one runs (_progress)
        return prompt_id

    # --- listening ------------------------------------------------------------------------------

    def watch_previews(self, task: Task, listener: PreviewListener) -> None:
        if not task.done.is_set():
            task.previews.listeners.add(listener)

    def unwatch_previews(self, task: Task, listener: PreviewListener) -> None:
        task.previews.listeners.discard(listener)

    async def _progress(self, task: Task, progress: dict) -> None:
        if task.phase is Phase.FINAL:
            return
        if self._spare is None and not self._stopping:  # ComfyUI runs this one: open the next one's socket
            self._spare = self.comfy.open_ahead()
        task.progress = progress
        task.last_activity = self.last_activity = time.monotonic()
        if is_final(progress):
            return  # the final state is published by _finish, with the results, never before them
        self.records.save_soon(task)

    async def _set_status(self, task: Task, status: str) -> None:
        """A status the agent sets itself (not from ComfyUI), stored and shown."""
        task.progress[""]["status"] = status
        task.last_activity = time.monotonic()
        await self.records.save(task)

    # --- running --------------------------------------------------------------------------------

    async def _run(self, task: Task, first_save: bool = False) -> None:
        with bind_task(task.id):
            try:
                if first_save and (self.slots.locked() or self.wait_for_comfyui is not None):
                    self.records.save_soon(task)  # it waits: say so now (else once ComfyUI has the prompt)
                if self.wait_for_comfyui is not None:
                    await self.wait_for_comfyui()
                async with self.slots:
                    task.phase = Phase.PREPARING
                    task.prepared_at = time.time()
                    task.last_activity = time.monotonic()
                    self._update_gauges()
                    await self._execute(task)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                task.fail("cancelled", "cancelled by the caller")
                if task.phase.on_comfyui and task.failure["kind"] != "crashed":
                    await self._take_off(task.prompt_id)
            except Exception as exc:
                logger.exception("task %s failed unexpectedly", task.id)
                task.fail("internal", f"{type(exc).__name__}: {exc}")
            await self._finish(task)

    async def _execute(self, task: Task) -> None:
        """Inputs, then the run, within one deadline: the task's timeout counts from its slot on."""
        deadline = asyncio.get_running_loop().time() + task.options.timeout
        inline = any(classify_image_value(value) != "name" for _, _, value in image_values(task.prompt, self.policy))
        prompt = copy.deepcopy(task.prompt) if inline else task.prompt  # inline pictures are replaced by names
        downloading = inline and has_url_inputs(prompt, self.policy)
        if downloading:
            await self._set_status(task, DOWNLOADING)
        try:
            async with asyncio.timeout_at(deadline):
                task.uploads = await materialize_image_inputs(
                    prompt,
                    _MeteredUploads(self.comfy, self.metrics),
                    self.policy,
                    on_fetch=self._fetched,
                    on_upload=task.claimed_inputs.add,
                )
        except TimeoutError:
            message = f"the task's input images took longer than its timeout ({task.options.timeout:g} s)"
            task.fail(**{**task_timeout(task), "message": message})
            return
        except InputError as exc:
            task.fail("input", str(exc))
            return
        except ComfyError as exc:
            task.fail(**self._comfy_failure(exc))
            return
        if downloading and task.progress[""].get("status") == DOWNLOADING:
            await self._set_status(task, QUEUED)
        task.phase = Phase.SUBMITTED
        try:
            async with asyncio.timeout_at(deadline):
                result = await self.comfy.run(
                    prompt,
                    task.prompt_id,
                    on_progress=lambda progress: self._progress(task, progress),
                    on_preview=task.previews.offer,
                    on_submitted=lambda: self._first_record(task),
                )
        except PromptValidationError as exc:
            error = {**exc.error, "type": exc.error.get("type", "invalid_prompt"), "node_errors": exc.node_errors}
            task.fail("validation", error.pop("message", "invalid prompt"), **error)
            return
        except TimeoutError:
            task.fail(**task_timeout(task))
            await self._take_off(task.prompt_id)
            return
        except ComfyError as exc:
            task.fail(**self._comfy_failure(exc))
            if isinstance(exc, ComfyTimeout):  # ComfyUI may yet queue what it did not answer for in time
                await self._take_off(task.prompt_id)
            return
        task.progress = result.progress
        if result.status == CANCELLED and not task.cancel_requested and (result.error or {}).get("type") == "deleted":
            task.fail("lost", "ComfyUI no longer knows the prompt (restarted?)")
            return
        if result.status == SUCCEEDED and task.options.results:
            task.results = await read_results(result.progress, self.janitor, self.comfy)

    def _first_record(self, task: Task) -> None:
        """ComfyUI has the prompt: a task not yet in the store goes there shortly, as ComfyUI starts it."""
        if task.published is None:
            self.records.save_soon(task, at_once=False)

    def _comfy_failure(self, exc: ComfyError) -> dict:
        if isinstance(exc, ComfyTimeout):
            seconds = self.settings.comfyui_request_timeout
            return {"kind": "timeout", "limit": "AGENT_COMFYUI_REQUEST_TIMEOUT", "seconds": seconds,
                    "message": f"ComfyUI did not answer a request within {seconds:g} s: {exc}"}  # fmt: skip
        if isinstance(exc, ComfyUnavailable):
            if self.on_unavailable is not None:
                self.on_unavailable()
            return {"kind": "unavailable", "message": str(exc)}
        if isinstance(exc, ComfyHTTPError):
            return {"kind": "internal", "message": str(exc), "status": exc.status}
        return {"kind": "internal", "message": str(exc)}

    def _fetched(self, source: str, size: int, seconds: float) -> None:
        self.metrics.input_fetch_bytes.labels(source).inc(size)
        self.metrics.input_fetch_seconds.labels(source).observe(seconds)

    async def _take_off(self, prompt_id: str) -> None:
        """Best effort, bounded: a prompt the agent stopped following must not keep the GPU busy."""
        try:
            async with asyncio.timeout(TAKE_OFF_SECONDS):
                await self.comfy.take_off({prompt_id})
        except (TimeoutError, ComfyError, OSError):
            logger.warning("could not take prompt %s off ComfyUI", prompt_id)

    async def _finish(self, task: Task) -> None:
        """Store the final state (with the results), then answer whoever waits; tidy up afterwards."""
        task.settle_error()
        task.phase = Phase.FINAL
        outcome = outcome_of(task.progress)
        self.metrics.task_finished(outcome.metric, time.monotonic() - task.accepted)
        try:
            await self.records.save(task, strict=True)
        except Exception:
            logger.exception("the final state of task %s could not be stored", task.id)
            task.published = task.record(self.settings.instance)  # the caller still gets its answer
            self.records.announce(task, task.published)
        self.tasks.pop(task.id, None)
        self._release_inputs(task)  # synchronously: no task can claim a name between the check and the unlink
        task.listeners.clear()
        task.previews.listeners.clear()
        task.done.set()
        self._update_gauges()
        logger.info("task %s %s (%s)", task.id, task.status, outcome.kind)
        noting = self.spawn(self._tidy_after(task), f"agent-tidy-{task.id}")
        self._noting[task.id] = noting
        noting.add_done_callback(lambda _: self._noting.pop(task.id, None))
        if self.on_final is not None:
            self.spawn(self.on_final(task, task.published), f"agent-final-{task.id}")

    async def _tidy_after(self, task: Task) -> None:
        """Once the answer is out: note the outputs for deletion, drop a cancel request."""
        try:
            await self._note_outputs(task)
            if task.remote_cancel:
                await self.store.delete(cancel_marker(task.id))
        except Exception:
            logger.exception("could not tidy up after task %s", task.id)

    # --- files -----------------------------------------------------------------------------------

    def inputs_in_use(self) -> set[str]:
        """Every input file name a live task of this agent uses or is about to upload."""
        names: set[str] = set()
        for task in self.tasks.values():
            names |= task.claimed_inputs
            names.update(task.uploads.values())
            names.update(value for _, _, value in image_values(task.prompt, self.policy)
                         if classify_image_value(value) == "name")  # fmt: skip
        return names

    def _release_inputs(self, task: Task) -> None:
        try:
            self.janitor.release_inputs(task.claimed_inputs | set(task.uploads.values()), self.inputs_in_use())
        except Exception:
            logger.exception("could not delete the inputs of task %s", task.id)

    async def _note_outputs(self, task: Task) -> None:
        refs = output_images(task.progress)
        if refs and self.janitor.wants_discovery():  # ComfyUI just answered: its folders are a quick ask away
            await self.discover_folders(timeout=1.0)
        if refs and task.prepared_at:
            await asyncio.to_thread(self.janitor.register_outputs, task.id, refs, task.prepared_at)

    async def discover_folders(self, timeout: float = 5.0) -> None:
        if not self.janitor.wants_discovery():
            return
        self.janitor.discovery_attempted()
        try:
            async with asyncio.timeout(timeout):
                self.janitor.may_discover(await self.comfy.system_stats())
        except (TimeoutError, ComfyError, OSError):
            return
        self.janitor.warn_if_blind()

    async def delete_outputs(self, task_id: str) -> int:
        """`--outputs-after-read delete`: a task's output files go once an answer carried them."""
        noting = self._noting.get(task_id)
        if noting is not None:  # its outputs are being noted down: delete them once they are
            await asyncio.wait([noting])
        try:
            return await asyncio.to_thread(self.janitor.delete_outputs, task_id)
        except Exception:
            logger.exception("could not delete the outputs of task %s", task_id)
            return 0

    # --- cancelling -----------------------------------------------------------------------------

    def abort(self, task: Task, kind: str, message: str) -> None:
        """Stop a task's worker with an agent-decided failure."""
        task.fail(kind, message)
        if task.worker is not None and not task.worker.done():
            task.worker.cancel()

    async def cancel(self, task_id: str) -> dict:
        """Cancel a task: drop it from the line, or take its prompt off ComfyUI; returns its final record.

        A task running on another instance gets a cancel request record in the store; its instance acts
        on it within a second. Raises TaskNotFound or TaskFinished.
        """
        task = self.tasks.get(task_id)
        if task is None:
            return await self._cancel_elsewhere(task_id)
        task.cancel_requested = True
        if task.phase is Phase.SUBMITTED:
            await self._take_off(task.prompt_id)  # ComfyUI then ends the run itself, with its own error
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task.done.wait()), CANCEL_GRACE_SECONDS)
        if not task.done.is_set():
            self.abort(task, "cancelled", "cancelled by the caller")
            await task.done.wait()
        return task.published or task.record(self.settings.instance)

    async def _cancel_elsewhere(self, task_id: str) -> dict:
        record = await self.store.get(task_id)
        if record is None:
            raise TaskNotFound(task_id)
        if is_final(record.get("progress") or {}):
            raise TaskFinished(record)
        if orphans.orphaned(record, self.settings):  # its instance is gone: nobody else will end the task
            fail_progress(record["progress"], "cancelled", "cancelled by the caller (its agent was gone)")
            record["phase"] = Phase.FINAL.value
            await self.store.put(task_id, record)
            with contextlib.suppress(Exception):
                await self.store.delete(cancel_marker(task_id))
            return record
        # The running instance rewrites the task's record all the time: ask it through a record of our own.
        await self.store.put(cancel_marker(task_id), {"prompt_id": record.get("prompt_id")})
        record["cancel_requested"] = True
        return record

    def comfyui_died(self, message: str = "ComfyUI stopped during the run") -> None:
        """The supervised ComfyUI exited: the prompts that were on it are lost."""
        for task in list(self.tasks.values()):
            if task.phase.on_comfyui:
                self.abort(task, "crashed", message)


class _MeteredUploads:
    """The client as `materialize_image_inputs` sees it, counting upload bytes and time."""

    def __init__(self, comfy: ComfyClient, metrics: AgentMetrics) -> None:
        self.comfy, self.metrics = comfy, metrics

    async def upload_image(self, data: bytes, filename: str, **kwargs: Any) -> dict:
        started = time.monotonic()
        answer = await self.comfy.upload_image(data, filename, **kwargs)
        self.metrics.upload_bytes.inc(len(data))
        self.metrics.upload_seconds.observe(time.monotonic() - started)
        return answer
