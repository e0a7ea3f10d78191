"""Live previews on /api/run/ws: ComfyUI's latent previews (the emulator with --preview-method) as small, rare
`preview` frames; off per request or by default; dropped, never queued, for a busy socket; never stored."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time

import pytest
from PIL import Image

from comfyweb.agent.previews import PreviewSender, PreviewThrottle
from comfyweb.comfy.previews import preview_data_url
from tests.prompts import sampler_workflow

STEPS, STEP_MS = 100, 30  # a 3-second sampler


async def frames_of(server, path: str = "/api/run/ws", seed: int = 7) -> tuple[list[dict], float]:
    """The frames of one sampler run (another seed each time: ComfyUI's cache would skip the sampler)."""
    started = time.monotonic()
    async with server.connect(path) as socket:
        await socket.send(json.dumps(sampler_workflow(steps=STEPS, seed=seed)))
        frames = [json.loads(raw) async for raw in socket]
    return frames, time.monotonic() - started


def decoded(frame: dict) -> Image.Image:
    header, _, payload = frame["data"]["image"].partition(",")
    assert header == "data:image/jpeg;base64"
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    image.load()
    return image


async def test_previews_arrive_small_and_at_most_twice_a_second(start_agent, emulator):
    emulator.config.preview_method = "auto"
    emulator.config.step_ms = STEP_MS
    async with start_agent() as server:
        frames, seconds = await frames_of(server)
        stored = await server.agent.store.get(next(f for f in frames if f["type"] == "result")["data"][""]["prompt_id"])
    previews = [frame for frame in frames if frame["type"] == "preview"]
    assert frames[-1]["type"] == "result"
    assert 2 <= len(previews) <= 2 * seconds + 1, (len(previews), seconds)
    assert {frame["data"]["node"] for frame in previews} == {"3"}, "the KSampler's previews"
    for frame in previews:
        image = decoded(frame)
        assert image.format == "JPEG" and max(image.size) <= 256
    assert stored is None or "preview" not in json.dumps(stored)


async def test_previews_can_be_turned_off_per_request_and_by_default(start_agent, emulator):
    emulator.config.preview_method = "auto"
    emulator.config.step_ms = 10
    async with start_agent() as server:
        off, _ = await frames_of(server, "/api/run/ws?previews=0", seed=1)
    async with start_agent(previews=False) as server:
        default_off, _ = await frames_of(server, seed=2)
        asked, _ = await frames_of(server, "/api/run/ws?previews=1", seed=3)
    assert not [f for f in off if f["type"] == "preview"]
    assert not [f for f in default_off if f["type"] == "preview"]
    assert [f for f in asked if f["type"] == "preview"], "a caller may still ask for them"


async def test_a_comfyui_without_a_preview_method_sends_none(start_agent, emulator):
    emulator.config.step_ms = 10
    async with start_agent() as server:
        frames, _ = await frames_of(server)
    assert frames[-1]["type"] == "result"
    assert not [f for f in frames if f["type"] == "preview"]


def test_large_previews_are_downscaled():
    big = io.BytesIO()
    Image.new("RGB", (1024, 768), "red").save(big, "PNG")
    small = decoded({"data": {"image": preview_data_url(big.getvalue())}})
    assert small.format == "JPEG" and small.size == (256, 192)


async def test_a_busy_socket_drops_previews_instead_of_queueing_them():
    sent: list[str] = []
    release, after = asyncio.Event(), asyncio.Event()

    async def slow_send(text: str) -> None:
        await release.wait()
        sent.append(text)
        if text == "after":
            after.set()

    lock = asyncio.Lock()
    sender = PreviewSender(slow_send, lock)
    for index in range(50):
        sender(f"preview {index}")
        await asyncio.sleep(0)
    release.set()
    async with lock:  # a progress frame waits for the one send in flight, no more
        sent.append("progress")
    assert sent == ["preview 0", "progress"], "one in flight, the 49 others dropped"
    sender("after")
    await asyncio.wait_for(after.wait(), 30)
    assert sent == ["preview 0", "progress", "after"]


async def test_the_throttle_decodes_nothing_without_listeners_and_at_most_two_a_second():
    now = [1000.0]
    throttle = PreviewThrottle(clock=lambda: now[0])
    tiny = io.BytesIO()
    Image.new("RGB", (32, 32)).save(tiny, "JPEG")
    got: list[str] = []
    await throttle.offer("3", "image/jpeg", b"not even an image")  # nobody listens: not decoded, no error
    throttle.listeners.add(got.append)
    for _ in range(20):
        await throttle.offer("3", "image/jpeg", tiny.getvalue())
        now[0] += 0.02  # 20 offers within 0.4 s
    assert len(got) == 1
    now[0] += 0.11  # 0.51 s after the first
    await throttle.offer("3", "image/jpeg", tiny.getvalue())
    assert len(got) == 2


@pytest.fixture(autouse=True)
def _reset_emulator(emulator):
    yield
    emulator.config.preview_method = "none"


@pytest.mark.parametrize("shows", [True, False])
async def test_the_webs_runner_relays_an_agents_previews_for_templates_that_show_them(start_agent, emulator, shows):
    """comfyweb.jobs.runners.agent: `preview` frames go to the job's sink (the relay), and not even asked for when
    the job's template does not show them."""
    import types
    import uuid

    from comfyweb.catalog.models import WorkflowTemplate
    from comfyweb.jobs.models import Job
    from comfyweb.jobs.runners.agent import run_on_agent

    emulator.config.preview_method = "auto"
    emulator.config.step_ms = STEP_MS
    template = WorkflowTemplate(pk=1, title="t", slug="t", prompt={}, live_previews=shows)
    job = Job(id=uuid.uuid4(), prompt=sampler_workflow(steps=40, seed=11), attempts=1, progress={})
    job.template = template

    class Sink:
        def __init__(self) -> None:
            self.progress, self.previews = 0, []

        async def __call__(self, progress: dict) -> None:
            self.progress += 1

        async def preview(self, node: str | None, mime: str, image) -> None:
            self.previews.append((node, image))

    sink = Sink()
    async with start_agent() as server:
        outcome = await run_on_agent(job, types.SimpleNamespace(url=server.url, token=""), sink)
    assert outcome.status == "succeeded" and sink.progress
    if shows:
        assert sink.previews and all(image.startswith("data:image/jpeg;base64,") for _, image in sink.previews)
        assert {node for node, _ in sink.previews} == {"3"}
    else:
        assert sink.previews == []
