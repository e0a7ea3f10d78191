"""Each way a request or a run can go wrong has its own documented status and an fc-style error body."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.conftest import load_fixture
from tests.prompts import CORE_WORKFLOW


async def test_malformed_json_is_a_400_not_a_500(agent):
    async with agent.client() as client:
        answer = await client.post("/api/run", content=b'{"1": {', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["message"] == "RequestParamsError" and "JSON" in body["error"]


async def test_a_body_that_is_not_a_prompt_is_a_400(agent):
    async with agent.client() as client:
        not_object = await client.post("/api/run", json=[1, 2])
        dangling = await client.post(
            "/api/run", json={"1": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}}
        )
    assert not_object.status_code == dangling.status_code == 400
    assert "node 1" in dangling.json()["error"]


async def test_deeply_nested_or_oversized_bodies_are_refused(start_agent):
    json_type = {"Content-Type": "application/json"}
    async with start_agent(max_body_bytes=10_000) as server, server.client() as client:
        deep = await client.post("/api/run", content=b"[" * 5000 + b"]" * 5000, headers=json_type)
        large = await client.post("/api/run", content=json.dumps({"x": "y" * 20_000}), headers=json_type)
    assert deep.status_code == 400
    assert large.status_code == 413 and large.json()["message"] == "RequestParamsError"


async def test_an_oversized_websocket_prompt_is_refused_while_it_is_read(start_agent, emulator):
    """uvicorn checks AGENT_MAX_BODY_BYTES on the frame header: close 1009, nothing reaches ComfyUI."""
    async with start_agent(max_body_bytes=10_000) as server, server.connect() as socket:
        await socket.send(json.dumps({"prompt": CORE_WORKFLOW, "padding": "y" * 20_000}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(f"{emulator.url}/history", timeout=10)).json() == {}


async def test_a_comfyui_validation_error_is_a_400_with_comfyuis_node_errors(agent):
    recorded = load_fixture("comfyui/validation_error.json")
    async with agent.client() as client:
        answer = await client.post("/api/run", json=recorded["workflow"], headers={"task-id": "invalid-1"})
        stored = await client.get("/api/status", params={"id": "invalid-1"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["message"] == "CallComfyUIPromptError"
    assert body["error"]["error"]["type"] == recorded["post_body"]["error"]["type"]
    assert set(body["error"]["node_errors"]) == set(recorded["post_body"]["node_errors"])
    assert stored.json()[""]["status"] == "failed"
    assert stored.json()[""]["error"]["node_errors"]


async def test_an_execution_error_is_a_500_with_the_progress_not_a_success(agent, emulator):
    emulator.set_faults(fail_node="2")
    async with agent.client() as client:
        answer = await client.post("/api/run", json=CORE_WORKFLOW, headers={"task-id": "boom"})
        stored = await client.get("/api/status", params={"id": "boom"})
    assert answer.status_code == 500
    body = answer.json()
    assert body["message"] == "ComfyUIExecutionError"
    assert body["error"]["type"] == "execution_error" and body["error"]["node_id"] == "2"
    assert body["progress"][""]["status"] == "failed"
    assert not body["progress"]["3"]["images"]
    assert stored.json()[""]["status"] == "failed"
    assert stored.json()[""]["error"]["node_id"] == "2"


async def test_comfyui_unreachable_is_a_503(start_agent):
    from tests.conftest import free_port

    async with start_agent(comfyui_url=f"http://127.0.0.1:{free_port()}") as server, server.client() as client:
        answer = await client.post("/api/run", json=CORE_WORKFLOW)
    assert answer.status_code == 503
    assert answer.json()["message"] == "ComfyUIUnavailableError"
    assert answer.headers["retry-after"]


async def test_a_task_over_its_timeout_is_a_504_and_comfyui_is_interrupted(agent, emulator):
    from tests.prompts import sampler_workflow

    emulator.config.step_ms = 100
    async with agent.client() as client:
        answer = await client.post("/api/run", params={"timeout": "0.5"}, json=sampler_workflow(steps=50))
        assert answer.status_code == 504
        assert answer.json()["message"] == "TaskTimeoutError"
        for _ in range(1200):  # ComfyUI stops at its next step
            queue = (await client.get("/queue")).json()  # through the passthrough
            if not queue["queue_running"]:
                break
            await asyncio.sleep(0.05)
        history = (await client.get("/history")).json()
    assert queue["queue_running"] == [] and queue["queue_pending"] == []
    (entry,) = history.values()
    assert entry["status"]["status_str"] == "error"
    assert any(kind == "execution_interrupted" for kind, _ in entry["status"]["messages"])
