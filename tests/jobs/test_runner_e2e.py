"""Jobs run end to end over real sockets: dispatcher worker → ComfyUI (emulator) → stored outputs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.utils import translation
from PIL import Image

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.selectors import job_snapshot
from comfyweb.jobs.services import cancel_job, create_jobs
from comfyweb.jobs.worker import JobWorker
from tests.conftest import free_port
from tests.processes import EmulatorProcess
from tests.prompts import CORE_WORKFLOW, sampler_workflow

pytestmark = pytest.mark.django_db(transaction=True)

FINAL = {Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED}


def make_template(prompt: dict, slug: str = "core") -> WorkflowTemplate:
    return WorkflowTemplate.objects.create(title=slug, slug=slug, prompt=prompt, params=[])


def make_backend(url: str, name: str = "emu", slots: int = 2, enabled: bool = True) -> GpuBackend:
    return GpuBackend.objects.create(name=name, url=url, kind=GpuBackend.Kind.COMFYUI, slots=slots, enabled=enabled)


async def run_until(predicate, worker: JobWorker, timeout: float = 60) -> None:
    """Run `worker` until `predicate()` (sync, DB) holds; the test fails after `timeout` seconds."""
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not await sync_to_async(predicate)():
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task


def all_final() -> bool:
    return not Job.objects.exclude(status__in=FINAL).exists()


def cancel_once_running(job_id):
    """A run_until predicate: cancel the job once its sampler has made a few steps; true once it ended."""

    def check() -> bool:
        current = Job.objects.get(pk=job_id)
        if current.status == Job.Status.RUNNING and current.progress.get("3", {}).get("value", 0) > 2:
            cancel_job(job=current)
        return current.status in FINAL

    return check


def fast_worker(name: str = "w1") -> JobWorker:
    return JobWorker(name, poll_interval=0.05, heartbeat_interval=0.2, cancel_poll_interval=0.05, sync_backends=False)


async def test_a_job_runs_to_stored_images_with_progress(emulator_thread):
    template = await sync_to_async(make_template)(CORE_WORKFLOW)
    await sync_to_async(make_backend)(emulator_thread.url)
    [job] = await sync_to_async(create_jobs)(template=template, values={}, session_key="s1")
    await run_until(all_final, fast_worker())
    job = await Job.objects.select_related("backend").aget(pk=job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.percent == 100 and job.attempts == 1
    assert job.progress[""]["status"] == "succeeded" and job.progress[""]["prompt_id"] == str(job.pk)
    outputs = [output async for output in job.outputs.all()]
    assert len(outputs) == 1
    with outputs[0].file.open("rb") as stored:
        assert Image.open(stored).size == (32, 24)
    assert outputs[0].thumbnail and (outputs[0].width, outputs[0].height) == (32, 24)


async def test_cancel_interrupts_a_running_job(emulator_thread):
    template = await sync_to_async(make_template)(sampler_workflow(steps=2000))
    await sync_to_async(make_backend)(emulator_thread.url)
    [job] = await sync_to_async(create_jobs)(template=template, values={}, session_key="s1")

    await run_until(cancel_once_running(job.pk), fast_worker())
    job = await Job.objects.aget(pk=job.pk)
    assert job.status == Job.Status.CANCELLED
    queue = httpx.get(f"{emulator_thread.url}/queue", timeout=5).json()
    assert queue["queue_running"] == [], "the backend stopped working on it"


async def test_a_cancelled_job_waiting_in_comfyuis_queue_is_removed_there(emulator_thread):
    template = await sync_to_async(make_template)(sampler_workflow(steps=2000))
    await sync_to_async(make_backend)(emulator_thread.url, slots=2)
    first, second = await sync_to_async(create_jobs)(template=template, values={}, quantity=2, session_key="s")

    def cancel_both_when_dispatched() -> bool:
        jobs = list(Job.objects.filter(pk__in=[first.pk, second.pk]))
        if all(j.status == Job.Status.RUNNING for j in jobs) and not any(j.cancel_requested for j in jobs):
            pending = httpx.get(f"{emulator_thread.url}/queue", timeout=5).json()["queue_pending"]
            if pending:
                for j in jobs:
                    cancel_job(job=j)
        return all(j.status in FINAL for j in jobs)

    await run_until(cancel_both_when_dispatched, fast_worker())
    statuses = {job.status async for job in Job.objects.filter(pk__in=[first.pk, second.pk])}
    assert statuses == {Job.Status.CANCELLED}
    queue = httpx.get(f"{emulator_thread.url}/queue", timeout=5).json()
    assert queue["queue_running"] == [] and queue["queue_pending"] == []


async def test_a_backend_killed_mid_run_is_marked_unhealthy_and_the_job_retried_elsewhere(tmp_path, emulator_thread):
    doomed = await sync_to_async(EmulatorProcess)(tmp_path)
    try:
        template = await sync_to_async(make_template)(sampler_workflow(steps=30))
        dead = await sync_to_async(make_backend)(doomed.url, name="doomed")
        spare = await sync_to_async(make_backend)(emulator_thread.url, name="spare", enabled=False)
        doomed.set_faults(exit_at_node="3")
        [job] = await sync_to_async(create_jobs)(template=template, values={}, session_key="s1")

        def failed_over() -> bool:
            current = Job.objects.get(pk=job.pk)
            if current.attempts == 1 and current.status == Job.Status.QUEUED:
                GpuBackend.objects.filter(pk=spare.pk).update(enabled=True)
            return current.status in FINAL

        await run_until(failed_over, fast_worker())
    finally:
        doomed.stop()
    job = await Job.objects.aget(pk=job.pk)
    dead = await GpuBackend.objects.aget(pk=dead.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2 and job.backend_id == spare.pk
    assert not dead.healthy and dead.last_error


async def test_jobs_fail_with_a_clear_message_when_no_backend_can_run_them(settings):
    settings.JOB_MAX_ATTEMPTS = 2
    settings.LANGUAGE_CODE = "en"  # job errors are written in the site's language
    template = await sync_to_async(make_template)(CORE_WORKFLOW)
    backend = await sync_to_async(make_backend)(f"http://127.0.0.1:{free_port()}")
    [job] = await sync_to_async(create_jobs)(template=template, values={}, session_key="s1")

    def retried_or_done() -> bool:
        # Backoff and the unhealthy window would make the test wait: clear them each round.
        Job.objects.filter(pk=job.pk).update(not_before=None)
        GpuBackend.objects.filter(pk=backend.pk).update(unhealthy_until=None)
        return Job.objects.get(pk=job.pk).status in FINAL

    await run_until(retried_or_done, fast_worker())
    job = await Job.objects.aget(pk=job.pk)
    assert job.status == Job.Status.FAILED
    assert job.attempts == 2
    assert job.error_detail["code"] == "no_backend" and "tried 2 times" in job.error
    with translation.override("en"):
        shown = await sync_to_async(job_snapshot)(job)
    assert shown["error"]["message"].startswith("No GPU server could make this image")


async def test_a_restarted_dispatcher_reattaches_and_the_job_runs_once(settings, emulator_thread):
    settings.JOB_HEARTBEAT_STALE = 1
    template = await sync_to_async(make_template)(sampler_workflow(steps=150))
    await sync_to_async(make_backend)(emulator_thread.url)
    [job] = await sync_to_async(create_jobs)(template=template, values={}, session_key="s1")

    def midway() -> bool:
        return Job.objects.get(pk=job.pk).progress.get("3", {}).get("value", 0) >= 10

    crashed = fast_worker("crashed")
    crashed.heartbeat_interval = 3600  # a crashed process stops beating
    await run_until(midway, crashed)  # stopping cancels its runner without touching the job
    assert (await Job.objects.aget(pk=job.pk)).status == Job.Status.RUNNING

    await run_until(all_final, fast_worker("restarted"))
    job = await Job.objects.aget(pk=job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    history = httpx.get(f"{emulator_thread.url}/history", timeout=5).json()
    assert list(history) == [str(job.pk)], "ComfyUI ran the prompt exactly once"
    assert await job.outputs.acount() == 1


async def test_each_of_a_batch_gets_its_own_seed_and_image(emulator_thread):
    template = await sync_to_async(make_template)(sampler_workflow(steps=3, seed=-1))
    await sync_to_async(make_backend)(emulator_thread.url, slots=2)
    jobs = await sync_to_async(create_jobs)(template=template, values={}, quantity=3, session_key="s1")
    await run_until(all_final, fast_worker())
    finished = [job async for job in Job.objects.filter(pk__in=[j.pk for j in jobs])]
    assert {job.status for job in finished} == {Job.Status.SUCCEEDED}
    assert len({job.seeds["3.seed"] for job in finished}) == 3
    assert len({job.batch for job in finished}) == 1
