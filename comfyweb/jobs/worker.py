"""The dispatcher loop: claim jobs for free slots, run each in a task, keep their heartbeats.

Nothing in the loop dies because Redis or PostgreSQL is briefly down: a failed round is logged and
tried again with back-off (the thread's broken database connection dropped first, `core.db`); sends to
the channel layer never raise (`relay.delivery`); a runner that crashed on a database error gives its
job back once the database answers; every few seconds each running job's watchers hear the last update
sent (`apublish_heartbeats`), so a watcher that missed one re-reads the job, and they go on hearing it for a
few rounds after the job ended (its final state is the update a page must not miss).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from comfyweb.core.db import DISCONNECTED, drop_broken_connections
from comfyweb.core.logging import bind_job
from comfyweb.jobs.backends import probe_all_emulated, sync_env_backends
from comfyweb.jobs.dispatcher import Claim, claim, requeue_stale_jobs, start_claimed
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.coalescer import ProgressRelay
from comfyweb.jobs.relay.delivery import REDELIVERY
from comfyweb.jobs.relay.progress_writes import ProgressWrites
from comfyweb.jobs.relay.publish import (
    apublish_heartbeats,
    apublish_queue_changed,
    apublish_snapshots,
    publish_quietly,
)
from comfyweb.jobs.runners.run import retry_or_fail, run_job
from comfyweb.jobs.selectors import job_snapshot
from comfyweb.jobs.trust.periodic import purge_periodically

logger = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 0.5, 5.0  # back-off after a failed round (seconds)
# Seconds a worker that saw every slot busy goes without asking again, unless one of its own jobs ended
# (a slot freed here) or stale jobs came back to the queue: most rounds of a busy worker then make no query.
CAPACITY_REFRESH = 2.0
STALE_CHECK_MAX = 5.0  # seconds between two looks for jobs whose worker stopped (at most)
GIVE_BACK_FOR = 300.0  # seconds a crashed runner keeps trying to give its job back to the queue
# Relay heartbeats a job still gets after it left this worker. Its last update (most often its final state) is
# the one no later heartbeat of a running job would show missing: a page that did not hear it (a publish lost
# in a Redis blink, a socket that joined its group a moment late) re-reads the job on one of these.
HEARTBEATS_AFTER_END = 3


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobWorker:
    """One dispatcher worker; several may run against one PostgreSQL database."""

    def __init__(
        self,
        name: str | None = None,
        *,
        poll_interval: float = 0.5,
        heartbeat_interval: float = 5.0,
        cancel_poll_interval: float = 1.0,
        relay_heartbeat_interval: float = 2.0,
        sync_backends: bool = True,
    ) -> None:
        self.name = name or default_worker_name()
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.cancel_poll_interval = cancel_poll_interval
        self.relay_heartbeat_interval = relay_heartbeat_interval
        self.sync_backends = sync_backends
        self.tasks: dict[object, asyncio.Task] = {}
        self.cancel_events: dict[object, asyncio.Event] = {}
        self.ended: dict[object, int] = {}  # job id -> relay heartbeats it still gets (HEARTBEATS_AFTER_END)
        self.stopping = asyncio.Event()
        self.nudge = asyncio.Event()  # set when a slot frees up or the worker should stop
        self.relay = ProgressRelay(ProgressWrites())  # one relay and one batch of writes for all its jobs
        self.background: set[asyncio.Task] = set()
        self.full_until = 0.0  # monotonic: every slot was busy at the last claim; no claim before then
        self.stale_checked = float("-inf")  # monotonic: the last look for stale jobs

    async def run(self) -> None:
        if self.sync_backends:
            await self._until_done(sync_env_backends, "read GPU_BACKENDS")
            # In the background: a backend that does not answer must not hold up the first claims.
            self.background.add(asyncio.create_task(sync_to_async(probe_all_emulated, thread_sensitive=False)()))
        logger.info("job worker %s started", self.name)
        self.background.add(asyncio.create_task(purge_periodically(self.stopping)))  # retention (jobs.trust.purge)
        beat = asyncio.create_task(self._heartbeats())
        watch = asyncio.create_task(self._watch_cancellations())
        announce = asyncio.create_task(self._relay_heartbeats())
        retry = RETRY_FIRST
        try:
            while not self.stopping.is_set():
                if self.nudge.is_set():  # a job of this worker ended: its slot is free
                    self.full_until = 0.0
                self.nudge.clear()
                try:
                    await self.tick()
                    retry = RETRY_FIRST
                except Exception:  # the database (or Redis) is down: the same round again, a little later
                    logger.warning("job worker %s: a round failed; again in %.1f s", self.name, retry, exc_info=True)
                    await sync_to_async(drop_broken_connections)()
                    await asyncio.sleep(retry)
                    retry = min(retry * 2, RETRY_MAX)
                    continue
                try:  # a finished job frees a slot: claim again at once instead of at the next poll
                    await asyncio.wait_for(self.nudge.wait(), timeout=self.poll_interval)
                except TimeoutError:
                    pass
        finally:
            beat.cancel()
            watch.cancel()
            announce.cancel()
            REDELIVERY.stop()
            for task in self.background:
                task.cancel()
            for task in list(self.tasks.values()):
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def tick(self) -> list[Job]:
        """One round: recover stale jobs, claim what fits, start a runner per claimed job.

        Capacity is kept in memory between rounds: after a claim that left no slot free, no claim is
        made until a job of this worker ends, stale jobs come back, or CAPACITY_REFRESH has passed (a
        slot freed by another worker is claimed by that worker, whose own job ended)."""
        now = time.monotonic()
        recovered = []
        if now - self.stale_checked >= self._stale_check_interval():
            self.stale_checked = now
            recovered = await sync_to_async(requeue_stale_jobs)()
        if recovered:
            logger.warning("re-queued %d job(s) whose worker stopped", len(recovered))
            self.full_until = 0.0
            for job in recovered:
                await publish_quietly(job)
        claimed: list[Job] = []
        if now >= self.full_until:
            outcome, started = await sync_to_async(self._claim_and_start)()
            claimed = outcome.jobs
            self.full_until = now + CAPACITY_REFRESH if outcome.free_slots == 0 else 0.0
            if started:  # every job started in this round, in one batch
                await apublish_snapshots(started, redeliver=True)
        if recovered or claimed:
            await apublish_queue_changed()
        for job in claimed:
            self.cancel_events[job.pk] = asyncio.Event()
            self.tasks[job.pk] = asyncio.create_task(self._run(job))
        return claimed

    def _claim_and_start(self) -> tuple[Claim, list[tuple[object, dict]]]:
        """Claim what fits and mark it running, in one hop to the database thread; the started jobs, and
        their snapshots to announce."""
        outcome = claim(worker=self.name)
        started = start_claimed(outcome.jobs, self.name)
        snapshots = []
        for job in started:
            try:
                snapshots.append((job.pk, job_snapshot(job)))
            except Exception:  # a bug in one snapshot must not keep the round's jobs from running
                logger.warning("could not build the snapshot of job %s", job.pk, exc_info=True)
        return Claim(started, outcome.free_slots), snapshots

    def _stale_check_interval(self) -> float:
        """Often enough that a stopped worker's jobs wait at most a quarter of JOB_HEARTBEAT_STALE more."""
        return max(self.poll_interval, min(STALE_CHECK_MAX, settings.JOB_HEARTBEAT_STALE / 4))

    async def _run(self, job: Job) -> None:
        """One job's task; every log line of its life carries its id."""
        with bind_job(job.pk):
            try:
                await run_job(job, worker=self.name, cancelled=self.cancel_events.get(job.pk), relay=self.relay)
            except Exception as exc:
                # A bug or a lost database connection: retry with back-off, then fail, never loop forever.
                logger.exception("runner of job %s crashed", job.pk)
                await self._give_back(job, exc)
            finally:
                self.tasks.pop(job.pk, None)
                self.cancel_events.pop(job.pk, None)
                self.ended[job.pk] = HEARTBEATS_AFTER_END
                self.nudge.set()

    async def _give_back(self, job: Job, exc: Exception) -> None:
        """Send a crashed runner's job back to the queue (or fail it): retried while the database is away,
        so the job neither waits for JOB_HEARTBEAT_STALE nor is run twice."""
        deadline, retry = time.monotonic() + GIVE_BACK_FOR, RETRY_FIRST
        while True:
            try:
                await sync_to_async(retry_or_fail)(job, self.name, exc)
                return
            except DISCONNECTED:
                await sync_to_async(drop_broken_connections)()
                if time.monotonic() > deadline or self.stopping.is_set():
                    logger.warning("could not give job %s back: its heartbeat stops, another worker takes it", job.pk)
                    return
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX)
            except Exception:
                logger.exception("could not give job %s back", job.pk)
                return

    async def _until_done(self, step, what: str) -> None:
        """Run a sync database step, again with back-off until the database answers (or the worker stops)."""
        retry = RETRY_FIRST
        while not self.stopping.is_set():
            try:
                await sync_to_async(step)()
                return
            except DISCONNECTED:
                logger.warning("job worker %s: could not %s; again in %.1f s", self.name, what, retry, exc_info=True)
                await sync_to_async(drop_broken_connections)()
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self.tasks:
                elsewhere = await self._guarded(self._beat, list(self.tasks), what="store heartbeats")
                if elsewhere is not None:
                    self.relay.running_elsewhere = elsewhere

    async def _watch_cancellations(self) -> None:
        """One query per interval for all running jobs: cancel requests reach idle runners too."""
        while True:
            await asyncio.sleep(self.cancel_poll_interval)
            if self.tasks:
                requested = await self._guarded(self._cancel_requested, list(self.tasks), what="read cancellations")
                for job_id in requested or ():
                    if job_id in self.cancel_events:
                        self.cancel_events[job_id].set()

    async def _relay_heartbeats(self) -> None:
        """Tell the watchers of each running or just ended job the last update sent: one that heard less
        re-reads the job."""
        while True:
            await asyncio.sleep(self.relay_heartbeat_interval)
            await apublish_heartbeats(self.heartbeat_jobs())  # one round trip for all

    def heartbeat_jobs(self) -> list:
        """The jobs whose watchers hear this round's relay heartbeat: the running ones, and those that ended
        within the last HEARTBEATS_AFTER_END rounds (each call counts one round)."""
        for job_id in list(self.ended):
            self.ended[job_id] -= 1
            if self.ended[job_id] < 0 or job_id in self.tasks:  # a job running here again is beaten as one
                del self.ended[job_id]
        return [*self.tasks, *self.ended]

    async def _guarded(self, step, *args, what: str):
        """A periodic sync database step that logs a failure (and drops the broken connection) instead of dying."""
        try:
            return await sync_to_async(step)(*args)
        except Exception:
            logger.warning("job worker %s: could not %s; next round", self.name, what, exc_info=True)
            await sync_to_async(drop_broken_connections)()
            return None

    def _cancel_requested(self, job_ids: list) -> list:
        return list(Job.objects.filter(pk__in=job_ids, cancel_requested=True).values_list("pk", flat=True))

    def _beat(self, job_ids: list) -> int:
        """Store the heartbeats of this worker's jobs; the number of jobs other workers run (they share the
        relay's budget of states per second)."""
        Job.objects.filter(pk__in=job_ids, claimed_by=self.name).update(heartbeat_at=timezone.now())
        return Job.objects.filter(status=Job.Status.RUNNING).exclude(claimed_by=self.name).count()

    def stop(self) -> None:
        self.stopping.set()
        self.nudge.set()
