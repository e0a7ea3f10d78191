"""A task of the agent: what it runs, how far it has got, and the record every instance reads.

A task moves through four phases (`Phase`): waiting for one of the ComfyUI slots, preparing (its
input images fetched and uploaded), submitted to ComfyUI, final. Its `""` progress entry carries
the status callers see (`queued|downloading|running|succeeded|failed|cancelled`).

The record (`Task.record()`) is what the store holds; `published` is the last record written there,
and the only one `/api/status` and the task's listeners are shown (runner.py writes before it shows).
"""

from __future__ import annotations

import asyncio
import copy
import enum
import os
import time
from dataclasses import dataclass, field
from typing import Any

from comfyweb.agent.config import HOST_ID
from comfyweb.agent.errors import AgentError
from comfyweb.agent.outcomes import status_for_kind
from comfyweb.agent.previews import PreviewThrottle
from comfyweb.comfy.progress import CANCELLED, FAILED, FINAL_STATUSES, QUEUED, RUNNING, is_final


class Phase(enum.StrEnum):
    """Where a task is in the agent (stored as its value in the record's `phase`)."""

    QUEUED = "queued"  # accepted, waiting for a ComfyUI slot
    PREPARING = "preparing"  # has its slot; input images are fetched and uploaded
    SUBMITTED = "submitted"  # on ComfyUI
    FINAL = "final"  # ended; the record holds the outcome (and the results)

    @property
    def on_comfyui(self) -> bool:
        """The task holds a ComfyUI slot (its prompt may be on ComfyUI)."""
        return self in (Phase.PREPARING, Phase.SUBMITTED)


Listener = asyncio.Queue  # gets ("progress" | "final", record)


class QueueFull(AgentError):
    """Every slot is busy and the waiting line is full: the caller should retry later (503)."""

    status, error_type = 503, "QueueFullError"


class TaskConflict(AgentError):
    """A task with this id is still in flight on this agent."""

    status, error_type = 409, "TaskConflictError"


class TaskNotFound(AgentError, LookupError):
    """No live task and no stored record has this id."""

    status, error_type = 404, "LoadProgressError"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task {task_id}")
        self.task_id = task_id


class TaskFinished(AgentError):
    """The task ended already; nothing to cancel (the envelope carries its progress)."""

    status, error_type = 409, "TaskFinishedError"

    def __init__(self, record: dict) -> None:
        super().__init__("the task has already finished", progress=record.get("progress") or {})
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
    phase: Phase = Phase.QUEUED
    comfyui_url: str = ""
    results: dict[str, list[str]] | None = None
    seeds: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # from converting a UI-format workflow
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
    dirty: bool = False  # changed since the last write
    flushing: bool = False  # a background write (records.save_soon) is on its way
    hurry: asyncio.Event = field(default_factory=asyncio.Event)  # that write should not wait its delay
    unannounced: bool = False  # a change listeners have not been told about yet
    published: dict | None = None  # the record last written to the store: all that anyone is shown

    @property
    def status(self) -> str:
        return self.progress[""].get("status", QUEUED)

    def fail(self, kind: str, message: str, **extra: Any) -> None:
        """End the task with an agent-decided failure of `kind` (the first one decided wins)."""
        if self.failure is None:
            self.failure = {"kind": kind, "message": message, **extra}

    def settle_error(self) -> None:
        """The final `""` entry: the agent's own failure, or ComfyUI's error given its kind (outcomes.py)."""
        entry = self.progress[""]
        if self.failure is not None:
            failure = dict(self.failure)
            kind, message = failure.pop("kind"), failure.pop("message", self.failure["kind"])
            if not (kind == "cancelled" and entry.get("status") == CANCELLED):  # else keep ComfyUI's own error
                fail_progress(self.progress, kind, message, **failure)
        elif not is_final(self.progress):
            fail_progress(self.progress, "internal", "the run ended without a final state")
        elif entry.get("status") == CANCELLED and self.cancel_requested:
            entry["error"] = entry.get("error") or {"type": "cancelled", "message": "cancelled by the caller"}
            entry["error"]["kind"] = "cancelled"
        elif entry.get("status") == FAILED and entry.get("error"):
            kind = "execution" if entry["error"].get("type") == "execution_error" else "internal"
            entry["error"].setdefault("kind", kind)

    def published_progress(self) -> dict:
        """A snapshot (stores serialise it in another thread) that never shows the end before the final write.

        The final status is stored only together with the results, so a reader of the store never
        sees "succeeded" without its images.
        """
        progress = copy.deepcopy(self.progress)
        task = progress.get("")
        if task is not None:
            if self.phase is not Phase.FINAL and task.get("status") in FINAL_STATUSES:
                task["status"] = RUNNING
            if self.seeds:
                task["seeds"] = dict(self.seeds)  # the random seeds used, {"<node>.<input>": seed}
            if self.warnings:
                task["warnings"] = list(self.warnings)
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
            "phase": self.phase.value,
            "progress": self.published_progress(),
            "results": self.results,
            "seeds": self.seeds,
            "uploads": self.uploads,
            "options": {"results": self.options.results, "timeout": self.options.timeout},
            "cancel_requested": self.cancel_requested,
        }


def with_results(progress: dict, results: dict[str, list[str]] | None) -> dict:
    """The progress object with each node's base64 `results` (the `/api/run` answer, the `result` frame).

    A shallow copy: only the entries that get `results` are copied, the rest are shared read-only.
    """
    merged = dict(progress)
    for node_id, encoded in (results or {}).items():
        if node_id in merged:
            merged[node_id] = {**merged[node_id], "results": encoded}
    return merged


def fail_progress(progress: dict, kind: str, message: str, **extra: Any) -> None:
    """Mark `progress` finished with an agent-decided error of `kind` (see comfyweb.agent.outcomes)."""
    task = progress.setdefault("", {})
    task["status"] = status_for_kind(kind)
    task["error"] = {"type": extra.pop("type", kind), "kind": kind, "message": message, **extra}
    task["node"] = None
    task["last_updated"] = int(time.time())
