"""The progress relay: every state reaches the page at most one tick late, the last one always."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from PIL import Image

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay import coalescer
from comfyweb.jobs.relay.coalescer import ProgressRelay
from comfyweb.jobs.relay.progress_writes import ProgressWrites
from comfyweb.jobs.relay.publish import job_group
from comfyweb.jobs.worker import JobWorker
from tests.prompts import CORE_WORKFLOW

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLER = "3"


def running_job() -> Job:
    prompt = {SAMPLER: {"class_type": "KSampler", "inputs": {}}, **CORE_WORKFLOW}
    template = WorkflowTemplate.objects.create(title="T", slug="t", prompt=prompt)
    job = Job.objects.create(template=template, prompt=prompt, status=Job.Status.RUNNING, claimed_by="w")
    return Job.objects.select_related("template").get(pk=job.pk)


async def watch(job: Job) -> tuple[str, list[int]]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(job_group(job.pk), channel)
    return channel, []


async def drain(channel: str, steps: list[int]) -> None:
    layer = get_channel_layer()
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=0.3)
        except TimeoutError:
            return
        if message["type"] == "job.update":
            steps.append(message["job"]["nodes"][SAMPLER]["value"])


async def test_a_burst_is_coalesced_and_its_last_step_always_sent():
    job = await sync_to_async(running_job)()
    channel, steps = await watch(job)
    relay = ProgressRelay(ProgressWrites(), tick=0.05)
    progress = {"": {"status": "running"}, SAMPLER: {"value": 0, "max": 40}}
    for step in range(1, 41):  # 200 steps a second against a 50 ms tick
        progress[SAMPLER]["value"] = step
        relay.offer(job, "w", progress)
        await asyncio.sleep(0.005)
    await drain(channel, steps)
    assert steps[0] == 1, "the first change after a quiet moment goes out at once"
    assert steps[-1] == 40, "the trailing edge: the newest state is never held back"
    assert steps == sorted(steps) and len(steps) < 40, "coalesced, never out of order"
    assert relay.published == len(steps)


async def test_each_step_of_a_slower_sampler_reaches_the_page():
    job = await sync_to_async(running_job)()
    channel, steps = await watch(job)
    relay = ProgressRelay(ProgressWrites(), tick=0.02)
    progress = {"": {"status": "running"}, SAMPLER: {"value": 0, "max": 10}}
    for step in range(1, 11):  # 10 steps a second, as a GPU sampler: slower than the tick
        progress[SAMPLER]["value"] = step
        relay.offer(job, "w", progress)
        await asyncio.sleep(0.1)
    await drain(channel, steps)
    assert steps == list(range(1, 11))


async def test_a_forgotten_job_is_not_published_after_its_end():
    job = await sync_to_async(running_job)()
    channel, steps = await watch(job)
    relay = ProgressRelay(ProgressWrites(), tick=0.05)
    progress = {"": {"status": "running"}, SAMPLER: {"value": 1, "max": 10}}
    relay.offer(job, "w", progress)
    await asyncio.sleep(0.01)
    progress[SAMPLER]["value"] = 2
    relay.offer(job, "w", progress)
    relay.forget(job.pk)  # the run ended: the final state is the runner's to publish
    await drain(channel, steps)
    assert steps == [1]


async def test_what_is_published_is_written_in_the_next_batch():
    job = await sync_to_async(running_job)()
    writes = ProgressWrites(interval=0.05)
    relay = ProgressRelay(writes, tick=0.02)
    progress = {"": {"status": "running"}, SAMPLER: {"value": 7, "max": 10}}
    relay.offer(job, "w", progress)
    for _ in range(50):
        await asyncio.sleep(0.02)
        stored = await Job.objects.aget(pk=job.pk)
        if stored.progress:
            break
    assert stored.progress[SAMPLER]["value"] == 7 and stored.percent > 0


async def test_a_samplers_last_step_is_shown_even_when_the_next_node_starts_at_once():
    job = await sync_to_async(running_job)()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(job_group(job.pk), channel)
    relay = ProgressRelay(ProgressWrites(), tick=0.05)
    progress = {"": {"status": "running", "node": SAMPLER}, SAMPLER: {"value": 0, "max": 20}}
    relay.offer(job, "w", progress)
    await asyncio.sleep(0.01)
    for step in range(1, 21):
        progress[SAMPLER]["value"] = step
        relay.offer(job, "w", progress)
    progress[""]["node"] = "8"  # the decoder starts right after the last step, within the same tick
    progress["8"] = {"value": 0, "max": 1}
    relay.offer(job, "w", progress)
    shown = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=0.3)
        except TimeoutError:
            break
        current = message["job"]["current"] or {}
        shown.append((current.get("node"), current.get("value"), current.get("max")))
    assert (SAMPLER, 20, 20) in shown
    assert shown[-1][0] == "8", "then the node running now"


async def test_a_run_that_ends_within_a_tick_of_its_last_step_still_shows_it():
    job = await sync_to_async(running_job)()
    channel, steps = await watch(job)
    relay = ProgressRelay(ProgressWrites(), tick=10)  # a tick longer than the whole test
    progress = {"": {"status": "running", "node": SAMPLER}, SAMPLER: {"value": 1, "max": 4}}
    relay.offer(job, "w", progress)  # sent at once: the first change after a quiet moment
    await asyncio.sleep(0.01)
    for step in (2, 3, 4):
        progress[SAMPLER]["value"] = step
        relay.offer(job, "w", progress)
    await relay.close(job.pk)  # the run ends before the next tick
    await drain(channel, steps)
    relay._publisher.cancel()
    assert steps == [1, 4]


def jpeg(size: tuple[int, int] = (512, 512)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 90, 40)).save(out, format="JPEG")
    return out.getvalue()


async def previews_seen(channel: str) -> list[str]:
    layer = get_channel_layer()
    seen = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=0.3)
        except TimeoutError:
            return seen
        if message["type"] == "job.preview":
            seen.append(message["image"])


async def test_previews_go_out_small_and_at_most_twice_a_second():
    job = await sync_to_async(running_job)()
    channel, _ = await watch(job)
    relay = ProgressRelay(ProgressWrites(), tick=0.02)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(20):  # a preview every 50 ms for about a second (longer on a busy machine): 20 offered
        relay.offer_preview(job, jpeg())
        await asyncio.sleep(0.05)
    seen = await previews_seen(channel)
    seconds = loop.time() - started
    # At most two a second over the time it really took, the first one at once.
    assert 1 <= len(seen) <= 1 + int(2 * seconds), f"{len(seen)} previews in {seconds:.2f} s"
    picture = Image.open(io.BytesIO(base64.b64decode(seen[0].split(",", 1)[1])))
    assert seen[0].startswith("data:image/jpeg;base64,") and max(picture.size) <= 256
    stored = await Job.objects.aget(pk=job.pk)
    assert "preview" not in json.dumps(stored.progress), "previews are never written to the database"


async def test_a_template_can_turn_previews_off():
    job = await sync_to_async(running_job)()
    await WorkflowTemplate.objects.filter(pk=job.template_id).aupdate(live_previews=False)
    job = await Job.objects.select_related("template").aget(pk=job.pk)
    channel, _ = await watch(job)
    relay = ProgressRelay(ProgressWrites(), tick=0.02)
    relay.offer_preview(job, jpeg())
    assert await previews_seen(channel) == []


async def test_previews_are_dropped_before_progress_is_delayed(monkeypatch):
    job = await sync_to_async(running_job)()
    channel, steps = await watch(job)
    relay = ProgressRelay(ProgressWrites(), tick=0.01)
    publish = coalescer.apublish_snapshots

    async def slow_publish(*args, **kwargs):  # a round that takes longer than a tick: the relay is behind
        await asyncio.sleep(0.05)
        await publish(*args, **kwargs)

    monkeypatch.setattr(coalescer, "apublish_snapshots", slow_publish)
    progress = {"": {"status": "running"}, SAMPLER: {"value": 1, "max": 10}}
    relay.offer(job, "w", progress)
    relay.offer_preview(job, jpeg())
    await drain(channel, steps)
    assert steps == [1] and relay.previews_dropped == 1


def test_all_workers_share_one_budget_of_states_per_second(settings):
    """The web processes send every published state to its pages: two workers must not publish twice as much."""
    settings.JOB_RELAY_STATES_PER_SECOND = 1000
    relay = ProgressRelay(ProgressWrites(), tick=0.1)
    assert relay.pause(50) == 0.1  # 500 states a second: within the budget, one tick
    assert relay.pause(400) == pytest.approx(0.4)  # alone with 400 jobs: 2.5 rounds a second
    relay.running_elsewhere = 600
    assert relay.pause(400) == pytest.approx(1.0)  # with another worker's 600: each job once a second


async def test_a_workers_heartbeat_tells_its_relay_how_many_jobs_the_others_run():
    own = await sync_to_async(running_job)()
    template_id = own.template_id
    for worker in ("other-1", "other-1", "other-2"):
        await Job.objects.acreate(template_id=template_id, prompt={}, status=Job.Status.RUNNING, claimed_by=worker)
    await Job.objects.acreate(template_id=template_id, prompt={}, status=Job.Status.SUCCEEDED, claimed_by="other-2")
    worker = JobWorker("w", heartbeat_interval=0.01, sync_backends=False)
    worker.tasks[own.pk] = asyncio.get_running_loop().create_future()  # one job of its own, running
    beating = asyncio.create_task(worker._heartbeats())
    try:
        for _ in range(500):
            if worker.relay.running_elsewhere:
                break
            await asyncio.sleep(0.01)
    finally:
        beating.cancel()
    assert worker.relay.running_elsewhere == 3
