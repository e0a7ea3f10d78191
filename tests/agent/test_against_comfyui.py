"""The agent's core paths, in front of the emulator and (in `make test-comfyui`) a real ComfyUI."""

from __future__ import annotations

import json

import pytest

from comfyweb.agent.config import AgentSettings
from tests.agent.conftest import frames_until_closed, load_image_prompt, running_agent
from tests.images import data_url, png_bytes
from tests.prompts import CORE_WORKFLOW, fresh_core_workflow


@pytest.fixture
async def agent_in_front(comfy_url, tmp_path):
    settings = AgentSettings(
        comfyui_url=comfy_url,
        store_url=f"file://{tmp_path / 'tasks'}",
        state_dir=str(tmp_path / "agent-state"),
        stall_seconds=0,
    )
    async with running_agent(settings) as server:
        yield server


async def test_sync_run_answers_the_final_progress_with_results(agent_in_front):
    async with agent_in_front.client() as client:
        answer = await client.post("/api/run", json=CORE_WORKFLOW, headers={"task-id": "contract-sync"})
    body = answer.json()
    assert answer.status_code == 200 and answer.headers["task-id"] == "contract-sync"
    assert body[""]["status"] == "succeeded"
    assert body["3"]["images"] and body["3"]["results"][0]


async def test_a_data_url_image_is_uploaded_and_used(agent_in_front):
    prompt = load_image_prompt(data_url(png_bytes((20, 10))))
    async with agent_in_front.client() as client:
        answer = await client.post("/api/run", json={"prompt": prompt})
    assert answer.status_code == 200, answer.text
    assert answer.json()["3"]["images"][0]["type"] == "output"


async def test_websocket_streams_progress_then_the_result(agent_in_front):
    # Not served from ComfyUI's cache, and large enough that saving the image takes a while: progress to report.
    async with agent_in_front.connect() as socket:
        await socket.send(json.dumps(fresh_core_workflow(side=1536)))
        frames = await frames_until_closed(socket)
    assert [frame["type"] for frame in frames][-1] == "result"
    assert any(frame["type"] == "progress" for frame in frames)
    assert frames[-1]["data"][""]["status"] == "succeeded"


async def test_a_validation_error_is_400_with_comfyuis_node_errors(agent_in_front):
    broken = {**CORE_WORKFLOW, "1": {**CORE_WORKFLOW["1"], "inputs": {**CORE_WORKFLOW["1"]["inputs"], "width": -5}}}
    async with agent_in_front.client() as client:
        answer = await client.post("/api/run", json=broken)
    assert answer.status_code == 400
    assert answer.json()["message"] == "CallComfyUIPromptError"
    assert "1" in json.dumps(answer.json()["error"])
