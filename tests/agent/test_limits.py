"""Bodies JSON cannot hold are refused, a prompt has a node cap, and every timeout says which limit fired."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiohttp import web

from tests.agent.conftest import http_site
from tests.prompts import CORE_WORKFLOW

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1.5e308000"])
async def test_numbers_json_does_not_have_are_a_400(agent, emulator, number):
    body = json.dumps(CORE_WORKFLOW).replace('"width": 32', f'"width": {number}', 1)
    assert number in body
    async with agent.client() as client:
        answer = await client.post("/api/run", content=body, headers=JSON)
    async with agent.connect() as socket:
        await socket.send(body)
        frame = json.loads(await socket.recv())
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == "RequestParamsError" and "not valid JSON" in answer.json()["error"]
    assert frame["type"] == "error" and frame["data"]["message"] == "RequestParamsError"
    async with httpx.AsyncClient(trust_env=False) as direct:
        assert (await direct.get(f"{emulator.url}/history")).json() == {}, "nothing reached ComfyUI"


def fan_out(count: int) -> dict:
    """One image fanned out to `count` inverters: the shape that hung a ComfyUI for minutes."""
    prompt = {"0": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}
    for index in range(1, count + 1):
        prompt[str(index)] = {"class_type": "ImageInvert", "inputs": {"image": ["0", 0]}}
    return prompt


async def test_a_prompt_over_the_node_cap_is_a_413_before_comfyui_sees_it(start_agent, emulator):
    async with start_agent() as server, server.client() as client:
        huge = await client.post("/api/run", json=fan_out(100_000))
    async with start_agent(max_nodes=3) as server, server.client() as client:
        four = await client.post("/api/run", json={"prompt": fan_out(3)})
        three = await client.post("/api/run", json=fan_out(2) | {"9": CORE_WORKFLOW["3"] | {
            "inputs": {"images": ["1", 0], "filename_prefix": "cap"}}})  # fmt: skip
    assert huge.status_code == 413 and "100001 nodes" in huge.json()["error"]
    assert "at most 5000 (AGENT_MAX_NODES)" in huge.json()["error"]
    assert four.status_code == 413 and "at most 3" in four.json()["error"]
    assert three.status_code == 413, "the cap counts every node"
    async with httpx.AsyncClient(trust_env=False) as direct:
        assert (await direct.get(f"{emulator.url}/history")).json() == {}, "nothing reached ComfyUI"


def unanswering_comfyui(prompts: list[dict], release: asyncio.Event):
    """A ComfyUI that takes every prompt and answers the POST only once released (as one validating a huge graph)."""

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for _ in socket:
            pass
        return socket

    async def prompt(request: web.Request) -> web.Response:
        prompts.append(await request.json())
        await release.wait()
        return web.json_response({})

    async def queue(request: web.Request) -> web.Response:
        if request.method == "POST":
            prompts.append({"queue": await request.json()})
        return web.json_response({"queue_running": [], "queue_pending": []})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"system": {"argv": []}})

    return http_site([web.get("/ws", ws), web.post("/prompt", prompt), web.get("/queue", queue),
                      web.post("/queue", queue), web.get("/system_stats", stats)])  # fmt: skip


async def test_comfyui_not_answering_a_request_is_reported_as_that_limit(start_agent):
    prompts: list[dict] = []
    release = asyncio.Event()
    async with unanswering_comfyui(prompts, release) as url:
        async with start_agent(comfyui_url=url, comfyui_request_timeout=0.5) as server, server.client() as client:
            answer = await client.post("/api/run", json=CORE_WORKFLOW, params={"timeout": "600"})
        release.set()
    assert answer.status_code == 504
    error = answer.json()["error"]
    assert answer.json()["message"] == "TaskTimeoutError"
    assert error["limit"] == "AGENT_COMFYUI_REQUEST_TIMEOUT" and error["seconds"] == 0.5
    assert "did not answer" in error["message"] and "600" not in error["message"]
    assert len(prompts) == 1


async def test_a_task_over_its_own_timeout_says_so(agent, emulator):
    from tests.prompts import sampler_workflow

    emulator.config.step_ms = 50
    async with agent.client() as client:
        answer = await client.post("/api/run", params={"timeout": "0.3"}, json=sampler_workflow(steps=2000))
    error = answer.json()["error"]
    assert answer.status_code == 504
    assert error["limit"] == "timeout" and error["seconds"] == 0.3
    assert "longer than its timeout (0.3 s)" in error["message"]
