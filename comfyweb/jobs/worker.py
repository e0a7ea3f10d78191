"""The dispatcher loop: claim jobs for free slots, run each in a task, keep their heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from asgiref.sync import sync_to_async
from django.utils import timezone

from comfyweb.core.logging import bind_job
from comfyweb.jobs.backends import probe_all_emulated, sync_env_backends
from comfyweb.jobs.dispatcher import claim_jobs, requeue_stale_jobs
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.coalescer import ProgressRelay
from comfyweb.jobs.relay.progress_writes import ProgressWrites
from comfyweb.jobs.relay.publish import apublish_queue_changed, publish_quietly
from comfyweb.jobs.runners.run import retry_or_fail, run_job
from comfyweb.jobs.trust.periodic import purge_periodically

logger = logging.getLogger(__name__)


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
        sync_backends: bool = True,
    ) -> None:
        self.name = name or default_worker_name()
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.cancel_poll_interval = cancel_poll_interval
        self.sync_backends = sync_backends
        self.tasks: dict[object, asyncio.Task] = {}
        self.cancel_events: dict[object, asyncio.Event] = {}
        self.stopping = asyncio.Event()
        self.nudge = asyncio.Event()  # set when a slot frees up or the worker should stop
        self.relay = ProgressRelay(ProgressWrites())  # one relay and one batch of writes for all its jobs
        self.background: set[asyncio.Task] = set()

    async def run(self) -> None:
        if self.sync_backends:
            await sync_to_async(sync_env_backends)()
            # In the background: a backend that does not answer must not hold up the first claims.
            self.background.add(asyncio.create_task(sync_to_async(probe_all_emulated, thread_sensitive=False)()))
        logger.info("job worker %s started", self.name)
        self.background.add(asyncio.create_task(purge_periodically(self.stopping)))  # retention (jobs.trust.purge)
        beat = asyncio.create_task(self._heartbeats())
        watch = asyncio.create_task(self._watch_cancellations())
        try:
            while not self.stopping.is_set():
                self.nudge.clear()
                await self.tick()
                try:  # a finished job frees a slot: claim again at once instead of at the next poll
                    await asyncio.wait_for(self.nudge.wait(), timeout=self.poll_interval)
                except TimeoutError:
                    pass
        finally:
            beat.cancel()
            watch.cancel()
            for task in self.background:
                task.cancel()
            for task in list(self.tasks.values()):
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def tick(self) -> list[Job]:
        """One round: recover stale jobs, claim what fits, start a runner per claimed job."""
        recovered = await sync_to_async(requeue_stale_jobs)()
        if recovered:
            logger.warning("re-queued %d job(s) whose worker stopped", len(recovered))
            for job in recovered:
                await publish_quietly(job)
        claimed = await sync_to_async(claim_jobs)(worker=self.name)
        if recovered or claimed:
            await apublish_queue_changed()
        for job in claimed:
            self.cancel_events[job.pk] = asyncio.Event()
            self.tasks[job.pk] = asyncio.create_task(self._run(job))
        return claimed

    async def _run(self, job: Job) -> None:
        """One job's task; every log line of its life carries its id."""
        with bind_job(job.pk):
            try:
                await run_job(job, worker=self.name, cancelled=self.cancel_events.get(job.pk), relay=self.relay)
            except Exception as exc:
                # A bug or a lost database connection: retry with back-off, then fail, never loop forever.
                logger.exception("runner of job %s crashed", job.pk)
                with contextlib.suppress(Exception):
                    await sync_to_async(retry_or_fail)(job, self.name, exc)
            finally:
                self.tasks.pop(job.pk, None)
                self.cancel_events.pop(job.pk, None)
                self.nudge.set()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self.tasks:
                await sync_to_async(self._beat)(list(self.tasks))

    async def _watch_cancellations(self) -> None:
        """One query per interval for all running jobs: cancel requests reach idle runners too."""
        while True:
            await asyncio.sleep(self.cancel_poll_interval)
            if self.tasks:
                for job_id in await sync_to_async(self._cancel_requested)(list(self.tasks)):
                    if job_id in self.cancel_events:
                        self.cancel_events[job_id].set()

    def _cancel_requested(self, job_ids: list) -> list:
        return list(Job.objects.filter(pk__in=job_ids, cancel_requested=True).values_list("pk", flat=True))

    def _beat(self, job_ids: list) -> None:
        Job.objects.filter(pk__in=job_ids, claimed_by=self.name).update(heartbeat_at=timezone.now())

    def stop(self) -> None:
        self.stopping.set()
        self.nudge.set()
