"""Relaying running jobs' progress with bounded staleness: the newest state, at most one tick late.

A sampler may report ten steps a second for hundreds of jobs. Publishing every event would flood
the channel layer; dropping events (a fixed rate limit) loses steps and can leave a page showing a
step that is long past while the next node is silent. Here every change only marks its job, and
one task per worker publishes the newest state of every marked job once per tick (JOB_RELAY_TICK), all of
them in one batch (one round trip to Redis, comfyweb.jobs.relay.layer):
the first change after a quiet moment goes out at once, every later one within one tick, and the
last change before any quiet period is always sent. When a node with steps (a sampler) ends and the
next one starts within the same tick, its last step is sent first: a visitor always sees 20/20.
The published state is also handed to the batched database writes (ProgressWrites), off the socket
path.

Sampler previews (the picture forming) take the same task but a slower lane: the newest preview of a
job goes out at most every PREVIEW_INTERVAL, is never written to the database, and previews are
dropped, not delayed, in a round that fell behind: progress always goes first.
"""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings

from comfyweb.comfy.previews import preview_data_url
from comfyweb.comfy.progress import current_node, overall_fraction
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.progress_writes import ProgressWrites
from comfyweb.jobs.relay.publish import apublish_previews, apublish_snapshots
from comfyweb.jobs.selectors import job_snapshot

logger = logging.getLogger(__name__)

PREVIEW_INTERVAL = 0.5  # seconds between two previews of one job


def progress_copy(live: dict) -> dict:
    """A copy of a progress object that later folds do not change: its entries are copied, their values
    shared (the client replaces a node's `images` or the task's `error`, it never changes them in place).
    A deep copy of every running job's progress on every tick was a good part of the relay's cost."""
    return {node: dict(entry) if isinstance(entry, dict) else entry for node, entry in live.items()}


class ProgressRelay:
    """The progress relay of one worker (one event loop); runners call `offer`, `offer_preview` and `close`."""

    def __init__(self, writes: ProgressWrites, tick: float | None = None) -> None:
        self.writes = writes
        self.tick = settings.JOB_RELAY_TICK if tick is None else tick
        self.states_per_second = settings.JOB_RELAY_STATES_PER_SECOND
        self.running_elsewhere = 0  # jobs the other workers run (the worker's heartbeat counts them)
        self.marked: dict[object, tuple[Job, str, dict]] = {}
        self.running: dict[object, str | None] = {}  # the node each job ran at its last offer
        self.ended: dict[object, dict] = {}  # a node with steps that ended since the last round
        self.shown: dict[object, tuple] = {}  # (node, value) of the `current` last published
        self.previews: dict[object, bytes | str] = {}  # the newest preview of each job, not sent yet
        self.preview_sent: dict[object, float] = {}  # when each job's last preview went out (monotonic)
        self.previews_dropped = 0
        self._publisher: asyncio.Task | None = None
        self.published = 0  # states sent (for the benchmark's cost figures)

    def offer(self, job: Job, worker: str, progress: dict) -> None:
        """`progress` (the client's live dict) changed: publish its newest state within one tick."""
        running = (progress.get("") or {}).get("node")
        before = self.running.get(job.pk)
        if before and running != before:
            entry = progress.get(before) or {}
            if (entry.get("max") or 0) > 1:
                self.ended[job.pk] = {"node": before, "value": entry.get("value", 0), "max": entry["max"]}
        self.running[job.pk] = running
        self.marked[job.pk] = (job, worker, progress)
        self._ensure_publisher()

    def _ensure_publisher(self) -> None:
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish_while_marked())

    def offer_preview(self, job: Job, image: bytes | str) -> None:
        """A sampler preview: ComfyUI's image bytes, or a data URL an agent already made small."""
        if not (job.template_id and job.template.shows_live_previews):
            return
        self.previews[job.pk] = image
        self._ensure_publisher()

    def forget(self, job_id) -> None:
        """Drop everything about the job (it ended, or another worker took it over)."""
        for memo in (self.marked, self.running, self.ended, self.shown, self.previews, self.preview_sent):
            memo.pop(job_id, None)

    async def close(self, job_id) -> None:
        """The run ended: send what it changed since the last round at once (a run that ends within one
        tick of its sampler's last step still shows that step), then forget the job. The runner publishes
        the final state after this, so nothing of the run can overtake it."""
        entry = self.marked.pop(job_id, None)
        if entry is not None:
            await self._publish(self._snapshots(*entry, at=time.time()))
        self.forget(job_id)

    async def publish_marked(self) -> None:
        """Publish the newest state of every job marked since the last round (in one batch: one round trip
        to Redis), then the previews due."""
        started = time.monotonic()
        batch, self.marked = self.marked, {}
        at = time.time()
        snapshots: list[tuple[object, dict]] = []
        for job, worker, live in batch.values():
            snapshots += self._snapshots(job, worker, live, at=at)
        await self._publish(snapshots)
        if self.previews:
            if time.monotonic() - started > self.tick:  # behind: progress first, previews are dropped
                self.previews_dropped += len(self.previews)
                self.previews.clear()
            else:
                await self._publish_previews()

    async def _publish_previews(self) -> None:
        """The previews due, made small in one thread hop for all and sent in one batch."""
        now = time.monotonic()
        due = [job_id for job_id in self.previews if now - self.preview_sent.get(job_id, 0.0) >= PREVIEW_INTERVAL]
        images = [(job_id, self.previews.pop(job_id)) for job_id in due]
        raw = [image for _job_id, image in images if not isinstance(image, str)]
        made = iter(await asyncio.to_thread(lambda: [preview_data_url(image) for image in raw]) if raw else [])
        urls = []
        for job_id, image in images:
            url = image if isinstance(image, str) else next(made)
            if url is not None:
                self.preview_sent[job_id] = now
                urls.append((job_id, url))
        if urls:
            await apublish_previews(urls)

    def _snapshots(self, job: Job, worker: str, live: dict, *, at: float) -> list[tuple[object, dict]]:
        """The job's state to publish (after the last step of a node that ended unseen), handed to the writes.

        No query: the job's template was loaded when it was published at its start."""
        job.progress = progress_copy(live)  # the client goes on changing its own; writes read this copy
        job.percent = 100 * overall_fraction(job.progress, job.prompt)
        current = current_node(job.progress, job.prompt)
        job.current_node = ((current or {}).get("title") or "")[:200]
        snapshots = []
        ended = self.ended.pop(job.pk, None)
        if ended is not None and self.shown.get(job.pk) != (ended["node"], ended["max"]):
            snapshots.append((job.pk, self._node_end(job, ended, at)))
        try:
            snapshots.append((job.pk, job_snapshot(job, at=at)))
        except Exception:  # a bug in a snapshot must not stop the relay of the other jobs
            logger.warning("could not build the snapshot of job %s", job.pk, exc_info=True)
        self.shown[job.pk] = (current["node"], current["value"]) if current else None
        self.writes.offer(job, worker)
        self.published += len(snapshots)
        return snapshots

    def _node_end(self, job: Job, ended: dict, at: float) -> dict:
        """The last step of a node that ended unseen: the state before the next node, as it was then."""
        snapshot = job_snapshot(job, at=at)
        snapshot["current"] = {**current_node({"": {"node": ended["node"]}}, job.prompt), **ended}
        return snapshot

    async def _publish(self, snapshots: list[tuple[object, dict]]) -> None:
        if snapshots:  # what does not get through is sent again once the layer answers
            await apublish_snapshots(snapshots, redeliver=True)

    def pause(self, jobs: int) -> float:
        """Seconds between two rounds that publish `jobs` states: one tick, or longer when the running jobs of
        all workers together would publish more than JOB_RELAY_STATES_PER_SECOND. The budget is shared: the
        web processes, which send every state to its pages, set the pace, however many workers there are.
        Still bounded: every job, every round."""
        return max(self.tick, (jobs + self.running_elsewhere) / self.states_per_second)

    async def _publish_while_marked(self) -> None:
        while self.marked or self.previews:
            jobs, started = len(self.marked), time.monotonic()
            await self.publish_marked()
            # once per pause from the start of one round to the next: a round's own time is not added to it
            await asyncio.sleep(max(0.0, self.pause(jobs) - (time.monotonic() - started)))
