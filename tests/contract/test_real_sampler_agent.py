"""The GPU agent in front of a real ComfyUI running KSampler on the CPU (the checkpoint of make_checkpoint.py).

Runs only under `make test-comfyui`. The agent is its own process (`manage.py agent`), as in production;
every prompt is SD1.x txt2img at 64×64 with a few steps. What is checked is what a caller of the agent
relies on: the final progress and image of `/api/run` (only once ComfyUI has finished the prompt), every
KSampler step on `/api/run/ws` in order, async runs through `/api/status`, a cancel that interrupts the
sampler, `seed: -1` replaced and recorded (and the same seed giving the same bytes), and the errors a model
brings: a checkpoint that is not installed, a node that raises.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import uuid

import httpx
import pytest
import websockets
from PIL import Image

from tests.contract.sampler import (
    CHECKPOINT,
    DECODE_NODE,
    SAMPLER_NODE,
    SAVE_NODE,
    SIZE,
    fresh_seed,
    txt2img,
    vae_channel_mismatch,
)

pytestmark = pytest.mark.comfyui
if not os.environ.get("REAL_COMFYUI_URL"):
    pytest.skip("REAL_COMFYUI_URL is not set (run `make test-comfyui`)", allow_module_level=True)

TIMEOUT = 120
FINAL = ("succeeded", "failed", "cancelled")


def client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, trust_env=False)


async def comfy_history(comfyui_url: str, prompt_id: str) -> dict:
    async with client(comfyui_url) as comfy:
        return (await comfy.get(f"/history/{prompt_id}")).json().get(prompt_id) or {}


def decoded_image(result: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(result)))
    image.load()
    return image


def assert_all_nodes_done(progress: dict, prompt: dict) -> None:
    for node_id in prompt:
        entry = progress[node_id]
        assert entry["max"] > 0 and entry["value"] == entry["max"], (node_id, entry)


async def run_sync(agent_url: str, prompt: dict, **headers: str) -> httpx.Response:
    async with client(agent_url) as agent:
        return await agent.post("/api/run", json={"prompt": prompt}, headers=headers)


async def poll_status(agent_url: str, task_id: str, until, timeout: float = TIMEOUT) -> list[dict]:
    """GET /api/status until `until(progress)`; every answer seen, in order."""
    seen: list[dict] = []
    async with client(agent_url) as agent, asyncio.timeout(timeout):
        while True:
            answer = await agent.get("/api/status", params={"id": task_id})
            assert answer.status_code == 200, answer.text
            seen.append(answer.json())
            if until(seen[-1]):
                return seen
            await asyncio.sleep(0.02)


# --- runs ----------------------------------------------------------------------------------------------


async def test_sync_run_answers_the_sampled_image_once_comfyui_has_finished(real_agent, real_comfyui_url):
    prompt = txt2img(steps=3)
    # A second output after the first: an agent that took the first `executed` (or anything before
    # `execution_success`) for the end would answer without it.
    prompt["10"] = {"class_type": "ImageInvert", "inputs": {"image": [DECODE_NODE, 0]}}
    prompt["11"] = {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "inverted"}}
    answer = await run_sync(real_agent.url, prompt, **{"task-id": f"sync-{uuid.uuid4().hex[:8]}"})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body[""]["status"] == "succeeded"
    assert_all_nodes_done(body, prompt)
    assert (body[SAMPLER_NODE]["value"], body[SAMPLER_NODE]["max"]) == (3, 3), "KSampler's steps"
    image = decoded_image(body[SAVE_NODE]["results"][0])
    assert (image.format, image.size) == ("PNG", (SIZE, SIZE))
    assert len(image.convert("RGB").getcolors(SIZE * SIZE)) > 16, "decoded noise, not a flat picture"
    # The answer came after ComfyUI finished the prompt: its history already holds the same image.
    inverted = decoded_image(body["11"]["results"][0])
    assert inverted.size == (SIZE, SIZE) and inverted.tobytes() != image.tobytes()
    history = await comfy_history(real_comfyui_url, body[""]["prompt_id"])
    assert history["status"]["status_str"] == "success" and history["status"]["completed"] is True
    assert {node: output["images"] for node, output in history["outputs"].items()} == {
        SAVE_NODE: body[SAVE_NODE]["images"],
        "11": body["11"]["images"],
    }


async def test_websocket_streams_every_sampler_step_in_order_then_the_result(real_agent, real_comfyui_url):
    steps = 4
    prompt = txt2img(steps=steps)
    ws_url = real_agent.url.replace("http://", "ws://", 1) + "/api/run/ws"
    frames = []
    async with websockets.connect(ws_url, max_size=None, open_timeout=10) as socket:
        await socket.send(json.dumps({"prompt": prompt}))
        async with asyncio.timeout(TIMEOUT):
            async for raw in socket:
                frames.append(json.loads(raw))
    # The result frame is the last, once ComfyUI has recorded the prompt as finished.
    history = await comfy_history(real_comfyui_url, frames[-1]["data"][""]["prompt_id"])

    kinds = [frame["type"] for frame in frames]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"progress"}, kinds
    sampler_values = [frame["data"][SAMPLER_NODE]["value"] for frame in frames]
    changes = [value for index, value in enumerate(sampler_values) if index == 0 or value != sampler_values[index - 1]]
    assert [value for value in changes if value > 0] == list(range(1, steps + 1)), sampler_values
    assert changes == sorted(changes), "the step count never goes back"
    assert all(frame["data"][SAMPLER_NODE]["max"] in (0, 1, steps) for frame in frames)
    result = frames[-1]["data"]
    assert result[""]["status"] == "succeeded"
    assert_all_nodes_done(result, prompt)
    assert decoded_image(result[SAVE_NODE]["results"][0]).size == (SIZE, SIZE)
    assert history["status"]["status_str"] == "success"


async def test_async_run_is_followed_through_status_to_its_result(real_agent):
    task_id = f"async-{uuid.uuid4().hex[:8]}"
    prompt = txt2img(steps=8)
    async with client(real_agent.url) as agent:
        accepted = await agent.post(
            "/api/run", json={"prompt": prompt}, headers={"X-Fc-Invocation-Type": "Async", "task-id": task_id}
        )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"task_id": task_id, "status": "queued"}

    seen = await poll_status(real_agent.url, task_id, lambda progress: progress[""]["status"] in FINAL)

    statuses = [progress[""]["status"] for progress in seen]
    assert statuses[-1] == "succeeded", seen[-1]
    assert "running" in statuses
    steps_seen = [progress[SAMPLER_NODE]["value"] for progress in seen]
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] == 8
    assert "results" not in seen[-1][SAVE_NODE], "results only when asked for"
    async with client(real_agent.url) as agent:
        with_results = (await agent.get("/api/status", params={"id": task_id, "results": "1"})).json()
    assert decoded_image(with_results[SAVE_NODE]["results"][0]).size == (SIZE, SIZE)


async def test_cancel_interrupts_the_sampler_mid_run(real_agent, real_comfyui_url):
    task_id = f"cancel-{uuid.uuid4().hex[:8]}"
    steps = 400  # ≈15 s of sampling: plenty of time to cancel in the middle
    async with client(real_agent.url) as agent:
        accepted = await agent.post(
            "/api/run",
            json={"prompt": txt2img(steps=steps)},
            headers={"X-Fc-Invocation-Type": "Async", "task-id": task_id},
        )
        assert accepted.status_code == 202, accepted.text
        await poll_status(real_agent.url, task_id, lambda progress: progress[SAMPLER_NODE]["value"] >= 2)
        cancelled = await agent.delete("/api/run", params={"id": task_id})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        final = (await agent.get("/api/status", params={"id": task_id})).json()
        again = await agent.delete("/api/run", params={"id": task_id})

    assert final[""]["status"] == "cancelled"
    assert 2 <= final[SAMPLER_NODE]["value"] < steps
    assert again.status_code == 409, "a finished task is not cancelled twice"
    # ComfyUI really stopped sampling: the prompt ended interrupted and nothing runs any more.
    prompt_id = final[""]["prompt_id"]
    async with asyncio.timeout(30):
        while not (history := await comfy_history(real_comfyui_url, prompt_id)):
            await asyncio.sleep(0.1)
    assert history["status"]["status_str"] == "error"
    assert "execution_interrupted" in [kind for kind, _ in history["status"]["messages"]]
    async with client(real_comfyui_url) as comfy:
        assert (await comfy.get("/queue")).json()["queue_running"] == []
    # And the next task runs normally.
    answer = await run_sync(real_agent.url, txt2img(steps=2))
    assert answer.status_code == 200 and answer.json()[""]["status"] == "succeeded", answer.text


async def test_seed_minus_one_is_replaced_recorded_and_the_same_seed_gives_the_same_bytes(real_agent, real_comfyui_url):
    text = f"seeded {uuid.uuid4().hex[:6]}"
    first = await run_sync(real_agent.url, txt2img(seed=-1, steps=2, text=text))
    assert first.status_code == 200, first.text
    first_body = first.json()
    seeds = first_body[""]["seeds"]
    assert list(seeds) == [f"{SAMPLER_NODE}.seed"]
    seed = seeds[f"{SAMPLER_NODE}.seed"]
    assert 0 <= seed < 2**53
    history = await comfy_history(real_comfyui_url, first_body[""]["prompt_id"])
    assert history["prompt"][2][SAMPLER_NODE]["inputs"]["seed"] == seed, "ComfyUI ran the recorded seed"

    other = (await run_sync(real_agent.url, txt2img(seed=fresh_seed(), steps=2, text=text))).json()
    again = (await run_sync(real_agent.url, txt2img(seed=seed, steps=2, text=text))).json()

    again_history = await comfy_history(real_comfyui_url, again[""]["prompt_id"])
    cached = next(data["nodes"] for kind, data in again_history["status"]["messages"] if kind == "execution_cached")
    assert SAMPLER_NODE not in cached, "the sampler ran again (the prompt in between emptied its cache)"
    assert "seeds" not in again[""] or not again[""]["seeds"], "an explicit seed is not replaced"
    first_png = base64.b64decode(first_body[SAVE_NODE]["results"][0])
    assert base64.b64decode(again[SAVE_NODE]["results"][0]) == first_png
    assert base64.b64decode(other[SAVE_NODE]["results"][0]) != first_png


# --- errors --------------------------------------------------------------------------------------------


async def test_a_missing_checkpoint_is_400_naming_the_node_and_the_installed_models(real_agent):
    missing = f"not-installed-{uuid.uuid4().hex[:6]}.safetensors"
    answer = await run_sync(real_agent.url, txt2img(checkpoint=missing))

    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["message"] == "CallComfyUIPromptError"
    assert body["error"]["error"]["type"] == "prompt_outputs_failed_validation"
    node_error = body["error"]["node_errors"]["4"]
    assert node_error["class_type"] == "CheckpointLoaderSimple"
    (problem,) = node_error["errors"]
    assert problem["type"] == "value_not_in_list"
    assert missing in problem["details"] and CHECKPOINT in problem["details"], problem["details"]
    assert problem["extra_info"]["received_value"] == missing
    assert CHECKPOINT in problem["extra_info"]["input_config"][0]


async def test_a_node_raising_fails_the_task_with_the_node_id_and_message(real_agent):
    task_id = f"raise-{uuid.uuid4().hex[:8]}"
    answer = await run_sync(real_agent.url, vae_channel_mismatch(), **{"task-id": task_id})

    assert answer.status_code == 500, answer.text
    body = answer.json()
    assert body["message"] == "ComfyUIExecutionError"
    error = body["error"]
    assert (error["node_id"], error["node_type"]) == (DECODE_NODE, "VAEDecode")
    assert "16 channels" in error["exception_message"], error["exception_message"]
    assert error.get("exception_type") == "RuntimeError"
    progress = body["progress"]
    assert progress[""]["status"] == "failed"
    assert progress["4"]["value"] == progress["4"]["max"], "the checkpoint loaded before the failure"
    async with client(real_agent.url) as agent:
        stored = (await agent.get("/api/status", params={"id": task_id})).json()
    assert stored[""]["status"] == "failed" and stored[""]["error"]["node_id"] == DECODE_NODE
