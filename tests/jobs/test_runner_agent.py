"""Jobs through a GPU agent process (fc-comfyui API over /api/run/ws) in front of the emulator."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from PIL import Image

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs import backends
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.runners.agent import comfyui_was_unreachable
from comfyweb.jobs.runners.outcome import Outcome
from comfyweb.jobs.services import create_jobs
from tests.conftest import free_port
from tests.jobs.test_runner_e2e import FINAL, all_final, cancel_once_running, fast_worker, run_until
from tests.processes import AgentProcess, EmulatorProcess
from tests.prompts import CORE_WORKFLOW, sampler_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent(tmp_path, emulator_thread):
    process = AgentProcess(tmp_path, emulator_thread.url)
    yield process
    process.stop()


def agent_job(prompt: dict, agent: AgentProcess, slug: str = "t") -> Job:
    template = WorkflowTemplate.objects.create(title=slug, slug=slug, prompt=prompt)
    GpuBackend.objects.create(name="agent", url=agent.url, kind=GpuBackend.Kind.AGENT, slots=1)
    return create_jobs(template=template, values={}, session_key="visitor")[0]


async def test_a_job_runs_through_the_agent_to_stored_images(agent):
    job = await sync_to_async(agent_job)(CORE_WORKFLOW, agent)
    await run_until(all_final, fast_worker())
    job = await Job.objects.aget(pk=job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    output = await job.outputs.afirst()
    with output.file.open("rb") as stored:
        assert Image.open(stored).size == (32, 24)
    assert agent.status(str(job.pk))[""]["status"] == "succeeded", "the agent ran it under the job's id"


async def test_an_execution_error_on_the_agent_fails_the_job_with_the_node(agent, emulator_thread):
    emulator_thread.set_faults(fail_class_type="ImageInvert")
    job = await sync_to_async(agent_job)(CORE_WORKFLOW, agent)
    await run_until(all_final, fast_worker())
    job = await Job.objects.aget(pk=job.pk)
    assert job.status == Job.Status.FAILED
    assert "ImageInvert" in job.error
    assert job.attempts == 1, "a workflow error is not a backend failure: no retry"


async def test_cancelling_interrupts_the_task_on_the_agent(agent):
    job = await sync_to_async(agent_job)(sampler_workflow(steps=2000), agent)

    await run_until(cancel_once_running(job.pk), fast_worker())
    assert (await Job.objects.aget(pk=job.pk)).status == Job.Status.CANCELLED
    assert agent.status(str(job.pk))[""]["status"] == "cancelled"


async def test_a_restarted_dispatcher_reattaches_to_the_agents_task(settings, agent, emulator_thread):
    settings.JOB_HEARTBEAT_STALE = 1
    job = await sync_to_async(agent_job)(sampler_workflow(steps=150), agent)

    def midway() -> bool:
        return Job.objects.get(pk=job.pk).progress.get("3", {}).get("value", 0) >= 10

    crashed = fast_worker("crashed")
    crashed.heartbeat_interval = 3600
    await run_until(midway, crashed)
    await run_until(all_final, fast_worker("restarted"))
    job = await Job.objects.aget(pk=job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    history = httpx.get(f"{emulator_thread.url}/history", timeout=5).json()
    assert len(history) == 1, "ComfyUI ran the prompt once: the second runner followed the agent's task"


async def test_a_dropped_connection_to_the_agent_is_followed_up_not_run_twice(agent, emulator_thread):
    from urllib.parse import urlparse

    from tests.processes import CuttableProxy

    proxy = CuttableProxy(urlparse(agent.url).port)
    try:
        job = await sync_to_async(agent_job)(sampler_workflow(steps=150), agent)
        await GpuBackend.objects.filter(name="agent").aupdate(url=proxy.url)

        def cut_midway() -> bool:
            current = Job.objects.get(pk=job.pk)
            if proxy.cuts == 0 and current.progress.get("3", {}).get("value", 0) >= 10:
                proxy.cut()
            return current.status in FINAL

        await run_until(cut_midway, fast_worker())
    finally:
        proxy.stop()
    job = await Job.objects.aget(pk=job.pk)
    assert proxy.cuts == 1
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 1, "followed on the same agent, not retried elsewhere"
    history = httpx.get(f"{emulator_thread.url}/history", timeout=5).json()
    assert len(history) == 1, "ComfyUI ran the prompt once"


@pytest.mark.slow
async def test_an_agent_killed_mid_run_is_given_up_and_the_job_retried_on_another(tmp_path, agent, emulator_thread):
    """A dead agent (not a blip): after the re-attach attempts, another agent runs the job."""
    doomed = AgentProcess(tmp_path, emulator_thread.url)
    template = await WorkflowTemplate.objects.acreate(title="t", slug="t", prompt=sampler_workflow(steps=150))
    dead = await GpuBackend.objects.acreate(name="doomed", url=doomed.url, kind=GpuBackend.Kind.AGENT)
    spare = await GpuBackend.objects.acreate(name="spare", url=agent.url, kind=GpuBackend.Kind.AGENT, enabled=False)
    [job] = await sync_to_async(create_jobs)(template=template, values={}, session_key="visitor")

    def kill_midway() -> bool:
        current = Job.objects.get(pk=job.pk)
        if doomed.process.poll() is None and current.progress.get("3", {}).get("value", 0) >= 10:
            doomed.process.kill()
        if current.attempts == 1 and current.status == Job.Status.QUEUED:
            GpuBackend.objects.filter(pk=spare.pk).update(enabled=True)
        return current.status in FINAL

    try:
        await run_until(kill_midway, fast_worker(), timeout=90)
    finally:
        doomed.stop()
    job = await Job.objects.aget(pk=job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2 and job.backend_id == spare.pk
    assert not (await GpuBackend.objects.aget(pk=dead.pk)).healthy


@pytest.mark.slow
async def test_a_job_whose_agent_cannot_reach_its_comfyui_runs_again_once_comfyui_is_back(tmp_path, monkeypatch):
    """The GPU box's fault, not the job's: the agent fails the task (ComfyUI unreachable before any node ran),
    the worker sends the job back to the queue and, once ComfyUI answers again, the same agent runs it."""
    monkeypatch.setattr(backends, "UNHEALTHY_BACKOFF", timedelta(seconds=1))
    port = free_port()
    agent = AgentProcess(tmp_path, f"http://127.0.0.1:{port}")
    comfyui: list[EmulatorProcess] = []
    try:
        job = await sync_to_async(agent_job)(CORE_WORKFLOW, agent)

        def back_after_the_first_try() -> bool:
            current = Job.objects.get(pk=job.pk)
            if not comfyui and current.attempts == 1 and current.status == Job.Status.QUEUED:
                comfyui.append(EmulatorProcess(tmp_path, port=port))  # ComfyUI restarted
            return current.status in FINAL

        await run_until(back_after_the_first_try, fast_worker(), timeout=120)
        ran = comfyui[0].history() if comfyui else {}
    finally:
        agent.stop()
        for process in comfyui:
            process.stop()
    job = await Job.objects.aget(pk=job.pk)
    assert comfyui, "the first try failed on the unreachable ComfyUI and sent the job back"
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert len(ran) == 1, "ComfyUI ran the prompt once"


NOT_RUN = {"": {"status": "failed"}, "3": {"max": 0, "value": 0, "start": 0, "last_updated": 0}}
RAN = {"": {"status": "failed"}, "3": {"max": 20, "value": 4, "start": 1, "last_updated": 1796684354}}


@pytest.mark.parametrize(
    ("error", "progress", "again"),
    [
        ({"kind": "unavailable", "message": "ComfyUI at … is unreachable"}, NOT_RUN, True),
        ({"kind": "timeout", "limit": "AGENT_COMFYUI_REQUEST_TIMEOUT", "seconds": 30}, NOT_RUN, True),
        ({"kind": "unavailable"}, RAN, False),  # a node ran: running it again could make two pictures
        ({"kind": "timeout", "limit": "timeout", "seconds": 600}, NOT_RUN, False),  # the job's own time limit
        ({"type": "execution_error", "node_id": "3"}, NOT_RUN, False),  # the workflow's fault
    ],
)
def test_only_a_comfyui_that_did_not_answer_before_any_node_ran_sends_the_job_back(error, progress, again):
    outcome = Outcome(status=Job.Status.FAILED, progress=progress, images=[], error=error)
    assert comfyui_was_unreachable(outcome) is again
    assert comfyui_was_unreachable(Outcome(status=Job.Status.SUCCEEDED, progress=progress, images=[])) is False
