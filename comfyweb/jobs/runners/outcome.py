"""What a backend run ends with, and the sink its progress flows into."""

from __future__ import annotations

from dataclasses import dataclass

from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.coalescer import ProgressRelay
from comfyweb.jobs.relay.progress_writes import CANCELLED, LOST


class JobCancelled(Exception):
    pass


class ClaimLost(Exception):
    """Another worker took the job over (this one was thought dead); stop without touching it."""


@dataclass
class Outcome:
    status: str
    progress: dict
    images: list[tuple[dict, bytes]]
    error: dict | None = None


class ProgressSink:
    """Receives every progress change of one job and marks it for the worker's relay (never waits).

    It stops the run when the job was taken over or cancelled meanwhile (the batched writes tell).
    """

    def __init__(self, job: Job, worker: str, relay: ProgressRelay) -> None:
        self.job = job
        self.worker = worker
        self.relay = relay

    async def __call__(self, progress: dict) -> None:
        verdict = self.relay.writes.verdict(self.job.pk)
        if verdict == LOST:
            raise ClaimLost()
        if verdict == CANCELLED:
            raise JobCancelled()
        self.relay.offer(self.job, self.worker, progress)

    async def preview(self, node_id: str | None, mime: str, image: bytes | str) -> None:
        """A sampler preview: ComfyUI's image (the client's on_preview) or an agent's small data URL;
        relayed, never stored."""
        self.relay.offer_preview(self.job, image)

    async def close(self) -> None:
        """The run ended: its last changes go out now, nothing after (`finish` publishes the final state).
        A job another worker took over is only forgotten: its state is that worker's to tell."""
        if self.relay.writes.verdict(self.job.pk) == LOST:
            self.relay.forget(self.job.pk)
        else:
            await self.relay.close(self.job.pk)
