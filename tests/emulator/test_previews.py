"""Latent previews: ComfyUI run with a preview method sends a binary frame per sampler step."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from comfyweb.comfy.client import ComfyClient, parse_preview_frame
from comfyweb.emulator.inprocess import running_emulator
from tests.conftest import TRANSCRIPTS_DIR
from tests.emulator.protocol import TIMEOUT
from tests.prompts import sampler_workflow

RECORDED = TRANSCRIPTS_DIR / "v0.3.64"


def recorded_step_order(name: str) -> list[object]:
    """What the real ComfyUI sent around the sampler's steps: message types, binary frames by event type."""
    events = json.loads((RECORDED / name).read_text(encoding="utf-8"))["events"]
    order: list[object] = []
    for event in events:
        if "ws_recv_binary" in event:
            order.append(("binary", event["ws_recv_binary"]["event_type"]))
        elif "ws_recv" in event and event["ws_recv"]["type"] in ("progress", "progress_state"):
            order.append(event["ws_recv"]["type"])
    return order


async def emulated_step_order(*, announce: bool, steps: int) -> tuple[list[object], list[bytes]]:
    client_id = uuid.uuid4().hex
    order: list[object] = []
    frames: list[bytes] = []
    async with (
        running_emulator(step_ms=5, preview_method="auto") as emulator,
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.ws_connect(f"{emulator.url}/ws?clientId={client_id}") as ws,
    ):
        if announce:
            await ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        body = {"prompt": sampler_workflow(steps=steps), "client_id": client_id}
        prompt_id = (await (await session.post(f"{emulator.url}/prompt", json=body)).json())["prompt_id"]
        while True:
            frame = await ws.receive(timeout=15)
            if frame.type == aiohttp.WSMsgType.BINARY:
                frames.append(frame.data)
                order.append(("binary", int.from_bytes(frame.data[:4], "big")))
                continue
            message = json.loads(frame.data)
            if message["type"] in ("progress", "progress_state"):
                order.append(message["type"])
            if message["type"] == "executing" and message["data"].get("node") is None:
                assert message["data"]["prompt_id"] == prompt_id
                break
    return order, frames


def around_steps(order: list[object]) -> list[object]:
    """From the first preview to the last step's `progress`: the per-step pattern."""
    first = next(i for i, item in enumerate(order) if isinstance(item, tuple))
    last = max(i for i, item in enumerate(order) if item == "progress")
    return order[first - 1 : last + 1]


@pytest.mark.parametrize(
    ("announce", "recording", "event_type"),
    [(True, "10_ksampler_random_sd15.json", 4), (False, "11_ksampler_random_sd15_legacy_previews.json", 1)],
)
async def test_each_step_sends_state_preview_progress_like_comfyui(announce, recording, event_type):
    recorded = recorded_step_order(recording)
    order, frames = await emulated_step_order(announce=announce, steps=4)
    assert around_steps(order) == around_steps(recorded)
    assert recorded.count(("binary", event_type)) == 4 and order.count(("binary", event_type)) == 4
    node, _prompt, mime, image = parse_preview_frame(frames[0])
    assert mime == "image/jpeg" and image[:3] == b"\xff\xd8\xff"
    assert (node == "3") is announce, "only a client that announced metadata learns the node"


async def test_without_a_preview_method_there_are_no_previews():
    async with running_emulator(step_ms=5) as emulator, ComfyClient(emulator.url) as comfy:
        previews = []

        async def on_preview(node, mime, image):
            previews.append(node)

        result = await comfy.run(sampler_workflow(steps=3), on_preview=on_preview)
    assert result.status == "succeeded" and previews == []


async def test_the_client_gets_each_preview_with_its_node():
    async with running_emulator(step_ms=5, preview_method="auto") as emulator, ComfyClient(emulator.url) as comfy:
        previews = []

        async def on_preview(node, mime, image):
            previews.append((node, mime, image[:2]))

        result = await comfy.run(sampler_workflow(steps=3), on_preview=on_preview)
    assert result.status == "succeeded"
    assert previews == [("3", "image/jpeg", b"\xff\xd8")] * 3
