"""Batched progress writes: what each running job's row holds, and what its runner is told."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.progress_writes import CANCELLED, LOST, ProgressWrites, write_progress
from tests.prompts import CORE_WORKFLOW

pytestmark = pytest.mark.django_db(transaction=True)


def running_jobs(count: int, worker: str = "w1") -> list[Job]:
    template, _ = WorkflowTemplate.objects.get_or_create(slug="core", defaults={"prompt": CORE_WORKFLOW})
    return [
        Job.objects.create(
            template=template, prompt=CORE_WORKFLOW, session_key="s", status=Job.Status.RUNNING, claimed_by=worker
        )
        for _ in range(count)
    ]


def with_progress(job: Job, value: int) -> Job:
    job.progress = {"3": {"value": value, "max": 20}}
    job.percent = value * 5
    job.current_node = "KSampler"
    return job


def test_many_jobs_are_written_in_one_read_and_one_batch_of_updates():
    jobs = [with_progress(job, 7) for job in running_jobs(30)]
    with CaptureQueriesContext(connection) as queries:
        verdicts = write_progress([(job, "w1") for job in jobs])
    assert verdicts == {}
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("BEGIN", "SAVEPOINT"))]
    assert len(statements) == 2, statements
    assert statements[0].startswith("SELECT") and statements[1].startswith("30 times: UPDATE"), statements
    for stored in Job.objects.all():
        assert stored.progress == {"3": {"value": 7, "max": 20}}
        assert stored.percent == 35 and stored.current_node == "KSampler" and stored.heartbeat_at is not None


def test_a_job_taken_over_or_finished_is_left_alone_and_its_runner_told():
    taken, finished, cancelled, fine = running_jobs(4)
    Job.objects.filter(pk=taken.pk).update(claimed_by="w2")
    Job.objects.filter(pk=finished.pk).update(status=Job.Status.SUCCEEDED, percent=100)
    Job.objects.filter(pk=cancelled.pk).update(cancel_requested=True)
    entries = [(with_progress(job, 3), "w1") for job in (taken, finished, cancelled, fine)]
    verdicts = write_progress(entries)
    assert verdicts == {taken.pk: LOST, finished.pk: LOST, cancelled.pk: CANCELLED}
    assert Job.objects.get(pk=taken.pk).progress != {"3": {"value": 3, "max": 20}}
    assert Job.objects.get(pk=finished.pk).percent == 100
    assert Job.objects.get(pk=fine.pk).percent == 15


async def test_offers_are_written_soon_and_the_latest_wins():
    [job] = await sync_to_async(running_jobs)(1)
    writes = ProgressWrites(interval=0.05)
    writes.offer(with_progress(job, 1), "w1")
    writes.offer(with_progress(job, 2), "w1")
    for _ in range(100):
        stored = await Job.objects.aget(pk=job.pk)
        if stored.progress:
            break
        await asyncio.sleep(0.02)
    assert stored.progress == {"3": {"value": 2, "max": 20}}
    await sync_to_async(Job.objects.filter(pk=job.pk).update)(claimed_by="w2")
    writes.offer(with_progress(job, 3), "w1")
    for _ in range(100):
        if writes.verdict(job.pk):
            break
        await asyncio.sleep(0.02)
    assert writes.verdict(job.pk) == LOST
    writes.forget(job.pk)
    assert writes.verdict(job.pk) is None and not writes.pending


async def test_a_forgotten_job_is_not_written_after_its_end():
    [job] = await sync_to_async(running_jobs)(1)
    writes = ProgressWrites(interval=0.05)
    writes.offer(with_progress(job, 4), "w1")
    writes.forget(job.pk)  # before the flusher's first round
    await asyncio.sleep(0.2)
    stored = await Job.objects.aget(pk=job.pk)
    assert stored.progress in ({}, None) and writes.verdict(job.pk) is None
