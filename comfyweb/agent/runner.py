"""The agent's task queue: a bounded number of prompts on ComfyUI at once, each one stored as it goes.

A task is accepted (queued), waits for one of `concurrency` slots, has its input images
materialised, runs on ComfyUI through the protocol client (its own prompt id and socket, so
concurrent runs never share a stream), and ends succeeded, failed or cancelled. Every change
of its progress is written to the shared store and pushed to local listeners (WebSockets,
waiting `/api/run` requests); the final record carries the base64 results when asked for.

Nothing is left `running` forever: a timeout (which counts the download of input URLs too)
interrupts the prompt, a silent ComfyUI is declared stalled, a crash of the supervised ComfyUI
fails the tasks that were on it, and stopping the agent fails whatever was still in flight.

Nothing is lost when the agent itself dies (kill -9, out of memory): the records of live tasks are
rewritten at least every `heartbeat_seconds`, and a queued or running record that belongs to a
dead process (same machine, process gone) or has been silent for `orphan_seconds` is an orphan.
A starting agent marks the orphans it finds failed with the error `agent restarted` (kind
`restarted`), removes their cancel requests, takes their prompts off its ComfyUI and deletes their
uploads; any instance does the same for an orphan it is asked about (`/api/status`, `?id=`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from comfyweb.agent.config import AgentSettings
from comfyweb.agent.files import FileJanitor
from comfyweb.agent.metrics import AgentMetrics
from comfyweb.agent.outcomes import RESTARTED_MESSAGE, outcome_of, status_for_kind
from comfyweb.agent.previews import PreviewListener, PreviewThrottle
from comfyweb.agent.stores import TaskStore, cancel_marker, new_task_id
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
    FAILED,
    FINAL_STATUSES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    is_final,
    new_progress,
    output_images,
)
from comfyweb.comfy.prompt import randomize_seeds
from comfyweb.core.logging import bind_task

logger = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS = 3.0  # how long an interrupted prompt may take to say so before we stop waiting
WATCH_INTERVAL = 0.5
SWEEP_SECONDS = 60.0  # outputs whose record expired are deleted this often
PURGE_SECONDS = 600.0  # expired records purged, orphans looked for, this often
RECOVERY_COMFYUI_TIMEOUT = 10.0


def _host_id() -> str:
    """This machine as far as process ids mean anything: the host name and the pid namespace."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{os.uname().nodename}:{namespace}"


HOST_ID = _host_id()


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
    """Whether a stored record is queued/running for an agent process that is gone.

    Gone: the process that wrote it was on this machine and is dead (or had our pid: a restarted
    container), or the record has not been rewritten for `orphan_seconds` (live tasks are rewritten
    every `heartbeat_seconds`).
    """
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
    record["phase"] = "final"
    return record


Listener = asyncio.Queue


class QueueFull(Exception):
    """Every slot is busy and the waiting line is full: the caller should retry later (503)."""


class TaskConflict(Exception):
    """A task with this id is still in flight on this agent."""


class TaskNotFound(LookupError):
    """No live task and no stored record has this id."""


class TaskFinished(Exception):
    """The task ended already; nothing to cancel."""

    def __init__(self, record: dict) -> None:
        super().__init__("the task has already finished")
        self.record = record


@dataclass(frozen=True)
class RunOptions:
    """Per-request choices: include base64 results, time limit, webhook URL."""

    results: bool = True
    timeout: float = 600.0
    callback_url: str | None = None


@dataclass
class Task:
    id: str
    prompt: dict
    options: RunOptions
    prompt_id: str
    progress: dict
    created_at: float = field(default_factory=time.time)
    accepted: float = field(default_factory=time.monotonic)
    phase: str = "queued"  # queued (waiting for a slot) | preparing | submitted | final
    comfyui_url: str = ""
    results: dict[str, list[str]] | None = None
    seeds: dict[str, int] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)
    claimed_inputs: set[str] = field(default_factory=set)  # upload names about to be used (before uploading)
    prepared_at: float = 0.0  # wall time the task got its slot: its outputs are newer
    saved_at: float = field(default_factory=time.monotonic)
    remote_cancel: bool = False  # another instance asked (its cancel request record is removed at the end)
    previews: PreviewThrottle = field(default_factory=PreviewThrottle)
    listeners: set[Listener] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task | None = None
    last_activity: float = field(default_factory=time.monotonic)
    cancel_requested: bool = False
    failure: dict | None = None  # an error the agent decided (crash, stall, shutdown)
    save_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    dirty: bool = False

    @property
    def status(self) -> str:
        return self.progress[""].get("status", QUEUED)

    def published_progress(self) -> dict:
        """A snapshot (stores serialise it in another thread) that never shows the end before `_finish`.

        The final status is stored only together with the results, so a reader of the store never
        sees "succeeded" without its images.
        """
        progress = copy.deepcopy(self.progress)
        if self.phase != "final" and progress.get("", {}).get("status") in FINAL_STATUSES:
            progress[""]["status"] = RUNNING
        if self.seeds and "" in progress:
            progress[""]["seeds"] = dict(self.seeds)  # the random seeds used, {"<node>.<input>": seed}
        return progress

    def record(self, instance: str) -> dict:
        """The stored form of the task (what `/api/status` and other instances read)."""
        return {
            "id": self.id,
            "prompt_id": self.prompt_id,
            "instance": instance,
            "host": HOST_ID,
            "pid": os.getpid(),
            "comfyui": self.comfyui_url,
            "created_at": self.created_at,
            "phase": self.phase,
            "progress": self.published_progress(),
            "results": self.results,
            "seeds": self.seeds,
            "uploads": self.uploads,
            "options": {"results": self.options.results, "timeout": self.options.timeout},
            "cancel_requested": self.cancel_requested,
        }


def with_results(progress: dict, results: dict[str, list[str]] | None) -> dict:
    """The progress object with each node's base64 `results` (the `/api/run` answer, the `result` frame)."""
    merged = copy.deepcopy(progress)
    for node_id, encoded in (results or {}).items():
        if node_id in merged:
            merged[node_id]["results"] = encoded
    return merged


def fail_progress(progress: dict, kind: str, message: str, **extra: Any) -> None:
    """Mark `progress` finished with an agent-decided error of `kind` (see comfyweb.agent.outcomes)."""
    task = progress.setdefault("", {})
    task["status"] = status_for_kind(kind)
    task["error"] = {"type": extra.pop("type", kind), "kind": kind, "message": message, **extra}
    task["node"] = None
    task["last_updated"] = int(time.time())


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
        self.last_activity = time.monotonic()
        self.janitor = FileJanitor(
            input_dir=settings.comfyui_input_dir,
            output_dir=settings.comfyui_output_dir,
            state_dir=settings.state_dir,
            record_ttl=settings.record_ttl,
            comfyui_url=settings.comfyui_url,
        )
        self._watchdog: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt what a dead predecessor left (before any request is served), then watch."""
        try:
            await self.recover()
        except Exception:
            logger.exception("could not look for the tasks of a previous agent process")
        self._watchdog = asyncio.create_task(self._watch(), name="agent-watchdog")

    async def stop(self) -> None:
        """Fail every task still in flight (never leave it `running` in the store) and stop."""
        self._stopping = True
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        live = list(self.tasks.values())
        for task in live:
            self._abort(task, "shutdown", "the agent stopped before the task finished")
        for task in live:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task.done.wait(), 10)
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # --- counts ---------------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return sum(1 for task in self.tasks.values() if task.phase == "queued")

    @property
    def running(self) -> int:
        return sum(1 for task in self.tasks.values() if task.phase in ("preparing", "submitted"))

    def queue_full(self) -> bool:
        return self.queue_depth >= self.settings.max_queue and self.running >= self.settings.concurrency

    def _update_gauges(self) -> None:
        self.metrics.queue_depth.set(self.queue_depth)
        self.metrics.running_tasks.set(self.running)

    # --- submitting -----------------------------------------------------------------------------

    def comfy(self) -> ComfyClient:
        return ComfyClient(self.settings.comfyui_url, timeout=self.settings.comfyui_request_timeout)

    async def submit(self, prompt: dict, task_id: str | None = None, options: RunOptions | None = None) -> Task:
        """Accept a prompt (already normalised); raises QueueFull or TaskConflict."""
        task_id = task_id or new_task_id()
        if task_id in self.tasks:
            raise TaskConflict(f"task {task_id} is still in flight")
        if self.queue_full() or self._stopping:
            self.metrics.tasks.labels("rejected").inc()
            raise QueueFull("every ComfyUI slot is busy and the queue is full")
        prompt = copy.deepcopy(prompt)
        seeds = randomize_seeds(prompt)
        prompt_id = new_task_id()
        task = Task(
            id=task_id,
            prompt=prompt,
            options=options or RunOptions(results=self.settings.results_default, timeout=self.settings.timeout),
            prompt_id=prompt_id,
            progress=new_progress(prompt, prompt_id),
            seeds=seeds,
            comfyui_url=self.settings.comfyui_url,
        )
        self.tasks[task_id] = task
        self._update_gauges()
        await self._save(task, final=True)
        task.worker = asyncio.create_task(self._run(task), name=f"agent-task-{task_id}")
        return task

    # --- listening ------------------------------------------------------------------------------

    def subscribe(self, task: Task) -> Listener:
        """A queue that first holds the current state, then every change, then ("final", record)."""
        queue: Listener = asyncio.Queue()
        record = task.record(self.settings.instance)
        queue.put_nowait(("final" if task.done.is_set() else "progress", record))
        if not task.done.is_set():
            task.listeners.add(queue)
        return queue

    def unsubscribe(self, task: Task, queue: Listener) -> None:
        task.listeners.discard(queue)

    def watch_previews(self, task: Task, listener: PreviewListener) -> None:
        if not task.done.is_set():
            task.previews.listeners.add(listener)

    def unwatch_previews(self, task: Task, listener: PreviewListener) -> None:
        task.previews.listeners.discard(listener)

    def _notify(self, task: Task, kind: str) -> None:
        record = task.record(self.settings.instance)  # one snapshot, read-only for every listener
        for queue in list(task.listeners):
            queue.put_nowait((kind, record))

    async def _save(self, task: Task, final: bool = False) -> None:
        """Write the task's record; progress writes coalesce while one is in flight, final ones wait."""
        if not final and task.save_lock.locked():
            task.dirty = True
            return
        async with task.save_lock:
            task.dirty = True
            while task.dirty:
                task.dirty = False
                task.saved_at = time.monotonic()
                try:
                    await self.store.put(task.id, task.record(self.settings.instance))
                except Exception:
                    logger.exception("could not store task %s", task.id)
                    if final:
                        raise

    async def _progress(self, task: Task, progress: dict) -> None:
        if task.phase == "final":
            return
        task.progress = progress
        task.last_activity = self.last_activity = time.monotonic()
        if is_final(progress):
            return  # the final state is published by _finish, with the results, never before them
        self._notify(task, "progress")
        await self._save(task)

    # --- running --------------------------------------------------------------------------------

    async def _run(self, task: Task) -> None:
        with bind_task(task.id):
            try:
                if self.wait_for_comfyui is not None:
                    await self.wait_for_comfyui()
                async with self.slots:
                    task.phase = "preparing"
                    task.prepared_at = time.time()
                    task.last_activity = time.monotonic()
                    self._update_gauges()
                    await self._execute(task)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                if task.failure is None:
                    task.failure = {"kind": "cancelled", "message": "cancelled by the caller"}
                if task.phase in ("preparing", "submitted") and task.failure["kind"] != "crashed":
                    await self._take_off_comfyui(task)
            except Exception as exc:
                logger.exception("task %s failed unexpectedly", task.id)
                task.failure = task.failure or {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"}
            await self._finish(task)

    async def _execute(self, task: Task) -> None:
        """Inputs, then the run, within one deadline: the task's timeout counts from its slot on."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + task.options.timeout
        async with self.comfy() as comfy:
            prompt = copy.deepcopy(task.prompt)
            downloading = has_url_inputs(prompt, self.policy)
            if downloading:
                task.progress[""]["status"] = DOWNLOADING
                await self._publish(task)
            try:
                async with asyncio.timeout_at(deadline):
                    task.uploads = await materialize_image_inputs(
                        prompt,
                        _MeteredUploads(comfy, self.metrics),
                        self.policy,
                        on_fetch=self._fetched,
                        on_upload=task.claimed_inputs.add,
                    )
            except TimeoutError:
                task.failure = {
                    "kind": "timeout",
                    "message": f"the task's input images took longer than its timeout ({task.options.timeout:g} s)",
                }
                return
            except InputError as exc:
                task.failure = {"kind": "input", "message": str(exc)}
                return
            except ComfyError as exc:
                task.failure = self._comfy_failure(exc)
                return
            if downloading and task.progress[""].get("status") == DOWNLOADING:
                task.progress[""]["status"] = QUEUED
                await self._publish(task)
            task.phase = "submitted"
            try:
                result = await comfy.run(
                    prompt,
                    task.prompt_id,
                    on_progress=lambda progress: self._progress(task, progress),
                    on_preview=task.previews.offer,
                    timeout=max(0.01, deadline - loop.time()),
                )
            except PromptValidationError as exc:
                task.failure = {
                    "kind": "validation",
                    **exc.error,
                    "type": exc.error.get("type", "invalid_prompt"),
                    "node_errors": exc.node_errors,
                }
                return
            except ComfyTimeout:
                task.failure = {"kind": "timeout", "message": f"the task ran longer than {task.options.timeout:g} s"}
                await self._interrupt(comfy, task)
                return
            except ComfyError as exc:
                task.failure = task.failure or self._comfy_failure(exc)
                return
            task.progress = result.progress
            if result.status == CANCELLED and not task.cancel_requested and result.error:
                if result.error.get("type") == "deleted":
                    task.failure = {"kind": "lost", "message": "ComfyUI no longer knows the prompt (restarted?)"}
                    return
            if result.status == SUCCEEDED and task.options.results:
                task.results = await self._fetch_results(comfy, result.progress)

    async def _publish(self, task: Task) -> None:
        """Tell listeners and the store about a change the agent made itself (not from ComfyUI)."""
        task.last_activity = time.monotonic()
        self._notify(task, "progress")
        await self._save(task)

    def _comfy_failure(self, exc: ComfyError) -> dict:
        if isinstance(exc, ComfyUnavailable):
            return {"kind": "unavailable", "message": str(exc)}
        if isinstance(exc, ComfyTimeout):
            return {"kind": "unavailable", "message": str(exc)}
        if isinstance(exc, ComfyHTTPError):
            return {"kind": "internal", "message": str(exc), "status": exc.status}
        return {"kind": "internal", "message": str(exc)}

    def _fetched(self, source: str, size: int, seconds: float) -> None:
        self.metrics.input_fetch_bytes.labels(source).inc(size)
        self.metrics.input_fetch_seconds.labels(source).observe(seconds)

    async def _fetch_results(self, comfy: ComfyClient, progress: dict) -> dict[str, list[str]]:
        """Base64 (standard, padded) of every image of every node, aligned with the node's `images`."""
        results: dict[str, list[str]] = {}
        for node_id, entry in progress.items():
            if not node_id or not entry.get("images"):
                continue
            encoded = []
            for image in entry["images"]:
                try:
                    data = await comfy.view(image["filename"], image.get("subfolder", ""), image.get("type", "output"))
                except ComfyError:
                    logger.warning("could not read output %s of node %s", image.get("filename"), node_id)
                    data = b""
                encoded.append(base64.b64encode(data).decode("ascii"))
            results[node_id] = encoded
        return results

    async def _take_off_comfyui(self, task: Task) -> None:
        """Best effort, bounded: a prompt we stopped following must not keep the GPU busy."""
        try:
            async with asyncio.timeout(5), self.comfy() as comfy:
                await self._interrupt(comfy, task)
        except (TimeoutError, ComfyError, OSError):
            logger.warning("could not take task %s off ComfyUI", task.id)

    async def _interrupt(self, comfy: ComfyClient, task: Task) -> None:
        """Take the prompt off ComfyUI: delete it when pending, interrupt it when running (never another)."""
        with contextlib.suppress(ComfyError):
            await comfy.delete_queued([task.prompt_id])
            await comfy.interrupt(task.prompt_id)

    async def _finish(self, task: Task) -> None:
        if task.failure is not None:
            failure = dict(task.failure)
            kind = failure.pop("kind")
            message = failure.pop("message", kind)
            if kind == "cancelled" and task.progress[""].get("status") == CANCELLED:
                pass  # ComfyUI said it was interrupted: keep its own error
            else:
                fail_progress(task.progress, kind, message, **failure)
        elif not is_final(task.progress):
            fail_progress(task.progress, "internal", "the run ended without a final state")
        elif task.progress[""].get("status") == CANCELLED and task.cancel_requested:
            task.progress[""].setdefault("error", None)
            if not task.progress[""]["error"]:
                task.progress[""]["error"] = {"type": "cancelled", "message": "cancelled by the caller"}
            task.progress[""]["error"]["kind"] = "cancelled"
        elif task.progress[""].get("status") == FAILED and task.progress[""].get("error"):
            error = task.progress[""]["error"]
            error.setdefault("kind", "execution" if error.get("type") == "execution_error" else "internal")
        task.phase = "final"
        outcome = outcome_of(task.progress)
        self.metrics.task_finished(outcome.metric, time.monotonic() - task.accepted)
        record = task.record(self.settings.instance)
        try:
            await self._save(task, final=True)
        except Exception:
            logger.exception("the final state of task %s could not be stored", task.id)
        self.tasks.pop(task.id, None)
        await self._tidy_after(task)
        self._notify(task, "final")
        task.listeners.clear()
        task.previews.listeners.clear()
        task.done.set()
        self._update_gauges()
        logger.info("task %s %s (%s)", task.id, task.status, outcome.kind)
        if self.on_final is not None:
            job = asyncio.create_task(self.on_final(task, record))
            self._background.add(job)
            job.add_done_callback(self._background.discard)

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

    async def _tidy_after(self, task: Task) -> None:
        """A finished task: its uploads go when no live task uses them, its outputs are noted for later."""
        janitor = self.janitor
        try:
            janitor.release_inputs(task.claimed_inputs | set(task.uploads.values()), self.inputs_in_use())
            refs = output_images(task.progress)
            if refs and janitor.wants_discovery():  # ComfyUI just answered: its folders are a quick ask away
                await self._discover_folders(timeout=1.0)
            if refs and task.prepared_at:
                await asyncio.to_thread(janitor.register_outputs, task.id, refs, task.prepared_at)
            if task.remote_cancel:
                await self.store.delete(cancel_marker(task.id))
        except Exception:
            logger.exception("could not tidy up after task %s", task.id)

    async def _discover_folders(self, timeout: float = 5.0) -> None:
        if not self.janitor.wants_discovery():
            return
        self.janitor.discovery_attempted()
        try:
            async with asyncio.timeout(timeout), self.comfy() as comfy:
                self.janitor.may_discover(await comfy.system_stats())
        except (TimeoutError, ComfyError, OSError):
            return
        self.janitor.warn_if_blind()

    async def delete_outputs(self, task_id: str) -> int:
        """`--outputs-after-read delete`: a task's output files go once an answer carried them."""
        try:
            return await asyncio.to_thread(self.janitor.delete_outputs, task_id)
        except Exception:
            logger.exception("could not delete the outputs of task %s", task_id)
            return 0

    # --- a dead predecessor's tasks ---------------------------------------------------------------

    async def recover(self) -> int:
        """Mark the orphaned records of the store failed (`agent restarted`); returns how many.

        Those written on this machine were this agent's (or a sibling's that died): their prompts are
        taken off ComfyUI and their uploads deleted, in the background.
        """
        adopted, mine = 0, []
        for record in await self.store.unfinished():
            if record.get("id") in self.tasks or not orphaned(record, self.settings):
                continue
            await self.adopt_orphan(record)
            adopted += 1
            if record.get("host") == HOST_ID and record.get("comfyui") == self.settings.comfyui_url:
                mine.append(record)
        if adopted:
            logger.warning("%d task(s) of a previous agent process marked failed (agent restarted)", adopted)
        job = asyncio.create_task(self._clear_comfyui(mine), name="agent-recovery")
        self._background.add(job)
        job.add_done_callback(self._background.discard)
        return adopted

    async def adopt_orphan(self, record: dict) -> dict:
        """Store an orphaned record as failed with `agent restarted` and drop its cancel request."""
        failed = mark_restarted(record)
        await self.store.put(record["id"], failed)
        with contextlib.suppress(Exception):
            await self.store.delete(cancel_marker(record["id"]))
        logger.info("task %s: its agent is gone; marked failed (agent restarted)", record["id"])
        return failed

    async def _clear_comfyui(self, records: list[dict]) -> None:
        """Find ComfyUI's folders; take a dead predecessor's prompts off ComfyUI and delete its uploads."""
        if self.wait_for_comfyui is not None:
            with contextlib.suppress(Exception):
                await self.wait_for_comfyui()
        await self._discover_folders()
        prompt_ids = {record["prompt_id"] for record in records if record.get("prompt_id")}
        if prompt_ids:
            try:
                async with asyncio.timeout(RECOVERY_COMFYUI_TIMEOUT), self.comfy() as comfy:
                    running, pending = await comfy.queued_prompt_ids()
                    if pending & prompt_ids:
                        await comfy.delete_queued(sorted(pending & prompt_ids))
                    for prompt_id in running & prompt_ids:
                        await comfy.interrupt(prompt_id)
            except (TimeoutError, ComfyError, OSError) as exc:
                logger.warning("could not take a previous agent's prompts off ComfyUI: %s", exc)
        names = {name for record in records for name in (record.get("uploads") or {}).values()}
        self.janitor.release_inputs(names, self.inputs_in_use())

    # --- cancelling -----------------------------------------------------------------------------

    def _abort(self, task: Task, kind: str, message: str) -> None:
        """Stop a task's worker with an agent-decided failure."""
        if task.failure is None:
            task.failure = {"kind": kind, "message": message}
        if task.worker is not None and not task.worker.done():
            task.worker.cancel()

    async def cancel(self, task_id: str) -> dict:
        """Cancel a task: drop it from the line, or take its prompt off ComfyUI; returns its final record.

        A task running on another instance gets a cancel request record in the store; its instance acts
        on it within a second. Raises TaskNotFound or TaskFinished.
        """
        task = self.tasks.get(task_id)
        if task is None:
            record = await self.store.get(task_id)
            if record is None:
                raise TaskNotFound(task_id)
            if is_final(record.get("progress") or {}):
                raise TaskFinished(record)
            if orphaned(record, self.settings):
                # Its instance is gone: nobody else will end the task.
                fail_progress(record["progress"], "cancelled", "cancelled by the caller (its agent was gone)")
                await self.store.put(task_id, record)
                with contextlib.suppress(Exception):
                    await self.store.delete(cancel_marker(task_id))
                return record
            # The running instance rewrites the task's record all the time: ask it through a record of our own.
            await self.store.put(cancel_marker(task_id), {"prompt_id": record.get("prompt_id")})
            record["cancel_requested"] = True
            return record
        task.cancel_requested = True
        if task.phase == "submitted":
            async with self.comfy() as comfy:
                try:
                    running, pending = await comfy.queued_prompt_ids()
                    if task.prompt_id in pending:
                        await comfy.delete_queued([task.prompt_id])
                    elif task.prompt_id in running:
                        await comfy.interrupt(task.prompt_id)
                except ComfyError:
                    logger.warning("could not reach ComfyUI to cancel task %s", task.id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task.done.wait()), CANCEL_GRACE_SECONDS)
        if not task.done.is_set():
            self._abort(task, "cancelled", "cancelled by the caller")
            await task.done.wait()
        return task.record(self.settings.instance)

    def comfyui_died(self, message: str = "ComfyUI stopped during the run") -> None:
        """The supervised ComfyUI exited: the prompts that were on it are lost."""
        for task in list(self.tasks.values()):
            if task.phase in ("preparing", "submitted"):
                self._abort(task, "crashed", message)

    # --- watchdog -------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Stalls, cancel requests from other instances, heartbeats, expired records and outputs, orphans."""
        next_purge = time.monotonic() + 60
        next_sweep = time.monotonic() + 5
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                await self._check_stalls()
                await self._check_remote_cancels()
                await self._heartbeat()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_SECONDS
                    await self._discover_folders()
                    await asyncio.to_thread(self.janitor.sweep)
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_SECONDS
                    await self.store.purge_expired()
                    for record in await self.store.unfinished():
                        if record.get("id") not in self.tasks and orphaned(record, self.settings):
                            await self.adopt_orphan(record)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("agent watchdog")

    async def _heartbeat(self) -> None:
        """Rewrite the record of every live task not written for `heartbeat_seconds`: proof of life."""
        now = time.monotonic()
        for task in list(self.tasks.values()):
            if task.phase != "final" and now - task.saved_at >= self.settings.heartbeat_seconds:
                await self._save(task)

    async def _check_stalls(self) -> None:
        limit = self.settings.stall_seconds
        if not limit:
            return
        now = time.monotonic()
        stalled = [
            task
            for task in self.tasks.values()
            if task.phase == "submitted" and now - max(task.last_activity, self.last_activity) > limit
        ]
        for task in stalled:
            logger.warning("task %s: no word from ComfyUI for %g s; failing it", task.id, limit)
            self._abort(task, "stalled", f"ComfyUI sent nothing for {limit:g} s")
        if stalled and self.on_stall is not None:
            await self.on_stall()

    async def _check_remote_cancels(self) -> None:
        for task in list(self.tasks.values()):
            if task.cancel_requested or task.phase == "final":
                continue
            marker = await self.store.get(cancel_marker(task.id))
            if marker and marker.get("prompt_id") == task.prompt_id:
                task.remote_cancel = True
                job = asyncio.create_task(self.cancel(task.id))
                self._background.add(job)
                job.add_done_callback(self._background.discard)


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
