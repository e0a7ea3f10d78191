"""Honest states: a job handed to a GPU waits for it until the backend really starts its prompt, then paints."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.relay.publish import job_group
from comfyweb.jobs.selectors import IN_LINE, PAINTING, WAITING_FOR_GPU, stage
from comfyweb.jobs.services import create_jobs
from tests.jobs.test_runner_e2e import all_final, fast_worker, run_until
from tests.processes import AgentProcess
from tests.prompts import sampler_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("status", "progress", "expected"),
    [
        (Job.Status.QUEUED, {}, IN_LINE),
        (Job.Status.DISPATCHED, {}, WAITING_FOR_GPU),
        (Job.Status.RUNNING, {}, WAITING_FOR_GPU),  # marked running, nothing heard from the backend yet
        (Job.Status.RUNNING, {"": {"status": "queued"}}, WAITING_FOR_GPU),  # in the backend's own queue
        (Job.Status.RUNNING, {"": {"status": "downloading"}}, WAITING_FOR_GPU),  # the agent fetches inputs
        (Job.Status.RUNNING, {"": {"status": "running"}}, PAINTING),  # execution_start / the agent's running
        (Job.Status.SUCCEEDED, {"": {"status": "succeeded"}}, "succeeded"),
        (Job.Status.CANCELLED, {}, "cancelled"),
    ],
)
def test_the_stage_follows_what_the_backend_said(status, progress, expected):
    assert stage(Job(status=status, progress=progress)) == expected


@pytest.fixture(params=[GpuBackend.Kind.COMFYUI, GpuBackend.Kind.AGENT])
def one_at_a_time_gpu(request, tmp_path, emulator_thread):
    """A backend given two slots that paints one prompt at a time: a ComfyUI (its own queue), or a GPU agent
    with one slot in front of it (the agent's queue)."""
    if request.param == GpuBackend.Kind.COMFYUI:
        yield request.param, emulator_thread.url
        return
    agent = AgentProcess(tmp_path, emulator_thread.url, "--concurrency", "1")
    yield request.param, agent.url
    agent.stop()


async def test_a_second_job_on_a_one_at_a_time_gpu_waits_for_it_instead_of_saying_it_works(one_at_a_time_gpu):
    """Two slots on a backend that runs one prompt at a time: while the first job paints, the second says it
    waits for a GPU, never that it works at 0 %."""
    kind, url = one_at_a_time_gpu
    template = await sync_to_async(WorkflowTemplate.objects.create)(
        title="t", slug="t", prompt=sampler_workflow(steps=12), params=[]
    )
    await sync_to_async(GpuBackend.objects.create)(name="gpu", url=url, kind=kind, slots=2)
    jobs = await sync_to_async(create_jobs)(template=template, values={}, quantity=2, session_key="s")
    layer = get_channel_layer()
    channels = {}
    for job in jobs:
        channels[job.pk] = await layer.new_channel()
        await layer.group_add(job_group(job.pk), channels[job.pk])
    seen: dict = {job.pk: [] for job in jobs}
    together: list[tuple[str, str]] = []  # the stages of both jobs whenever one of them changed

    async def listen() -> None:
        latest = {job.pk: None for job in jobs}
        while True:
            for job_id, channel in channels.items():
                try:
                    message = await asyncio.wait_for(layer.receive(channel), timeout=0.01)
                except TimeoutError:
                    continue
                if message["type"] != "job.update":
                    continue
                snapshot = message["job"]
                seen[job_id].append((snapshot["status"], snapshot["stage"], snapshot["percent"]))
                latest[job_id] = snapshot["stage"]
                together.append(tuple(latest.values()))

    listener = asyncio.create_task(listen())
    try:
        await run_until(all_final, fast_worker(), timeout=60)
        await asyncio.sleep(0.3)
    finally:
        listener.cancel()
    assert await Job.objects.filter(status=Job.Status.SUCCEEDED).acount() == 2
    running_stages = [stage for states in seen.values() for status, stage, _ in states if status == "running"]
    assert WAITING_FOR_GPU in running_stages and PAINTING in running_stages
    assert {PAINTING, WAITING_FOR_GPU} in [set(pair) for pair in together], "one painted while the other waited"
    for states in seen.values():
        painted = [index for index, (_status, stage, _pct) in enumerate(states) if stage == PAINTING]
        waited = [index for index, (_status, stage, _pct) in enumerate(states) if stage == WAITING_FOR_GPU]
        assert not waited or not painted or max(waited) < min(painted), "waiting comes before painting, never after"
