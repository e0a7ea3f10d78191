"""`/api/run/ws`: progress frames after every change, one result/error frame, then close; `?id=` follows."""

from __future__ import annotations

import asyncio
import base64
import json

from tests.agent.conftest import frames_until_closed, wait_for_status
from tests.conftest import load_fixture
from tests.prompts import CORE_WORKFLOW, sampler_workflow


async def test_frames_are_progress_then_one_result_then_close(agent, emulator):
    emulator.config.step_ms = 100  # each step longer than the agent's 20 ms between progress records
    async with agent.connect(additional_headers={"task-id": "ws-1"}) as socket:
        await socket.send(json.dumps(sampler_workflow(steps=5)))
        frames = await frames_until_closed(socket)
    kinds = [frame["type"] for frame in frames]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"progress"}
    assert len(kinds) >= 3, "intermediate progress (changes made during one store write come together)"
    sampler_values = [frame["data"]["3"]["value"] for frame in frames if frame["data"]["3"]["max"] == 5]
    assert sampler_values == sorted(sampler_values) and sampler_values[-1] == 5
    result = frames[-1]["data"]
    assert result[""]["status"] == "succeeded"
    assert base64.b64decode(result["9"]["results"][0])[:8] == b"\x89PNG\r\n\x1a\n"
    stored = await wait_for_status(agent, "ws-1", {"succeeded"})
    assert stored["9"]["images"] == result["9"]["images"]


async def test_the_wrapped_prompt_and_a_client_close_message_are_understood(agent):
    async with agent.connect() as socket:
        await socket.send(json.dumps({"prompt": sampler_workflow(steps=5000)}))  # 25 s at the least
        first = json.loads(await socket.recv())
        await socket.send(json.dumps({"type": "close"}))
        rest = await frames_until_closed(socket)
    assert first["type"] == "progress"
    assert all(frame["type"] == "progress" for frame in rest), "the agent closed before the run ended"


async def test_a_validation_error_is_an_error_frame_with_comfyuis_details(agent):
    recorded = load_fixture("comfyui/validation_error.json")
    async with agent.connect() as socket:
        await socket.send(json.dumps(recorded["workflow"]))
        frames = await frames_until_closed(socket)
    assert frames[-1]["type"] == "error"
    error = frames[-1]["data"]
    assert error["message"] == "CallComfyUIPromptError"
    assert set(error["error"]["node_errors"]) == set(recorded["post_body"]["node_errors"])


async def test_an_execution_error_ends_with_an_error_frame(agent, emulator):
    emulator.set_faults(fail_node="2")
    async with agent.connect() as socket:
        await socket.send(json.dumps(CORE_WORKFLOW))
        frames = await frames_until_closed(socket)
    assert frames[-1]["type"] == "error"
    assert frames[-1]["data"]["message"] == "ComfyUIExecutionError"
    assert frames[-1]["data"]["progress"][""]["status"] == "failed"


async def test_a_late_joiner_gets_the_current_state_first_then_the_rest(agent, emulator):
    emulator.config.step_ms = 40
    async with agent.client() as client:
        await client.post(
            "/api/run", json=sampler_workflow(steps=15), headers={"X-Fc-Invocation-Type": "Async", "task-id": "late"}
        )
    await wait_for_status(agent, "late", {"running"})
    async with agent.connect("/api/run/ws?id=late") as socket:
        frames = await frames_until_closed(socket)
    assert frames[0]["type"] == "progress" and frames[0]["data"][""]["status"] == "running"
    assert frames[-1]["type"] == "result"
    assert frames[-1]["data"]["9"]["results"]


async def test_following_a_finished_task_gives_its_result_at_once(agent):
    async with agent.client() as client:
        await client.post("/api/run", json=CORE_WORKFLOW, headers={"task-id": "done-already"})
    async with agent.connect("/api/run/ws?id=done-already") as socket:
        frames = await asyncio.wait_for(frames_until_closed(socket), 10)
    assert [frame["type"] for frame in frames] == ["result"]
    assert frames[0]["data"]["3"]["results"]


async def test_following_an_unknown_task_is_an_error_frame(agent):
    async with agent.connect("/api/run/ws?id=nobody") as socket:
        frames = await frames_until_closed(socket)
    assert frames == [{"type": "error", "data": {"message": "LoadProgressError", "error": "no task nobody"}}]


async def test_a_client_that_hangs_up_does_not_lose_its_task(agent, emulator):
    emulator.config.step_ms = 20
    async with agent.connect(additional_headers={"task-id": "hung-up"}) as socket:
        await socket.send(json.dumps(sampler_workflow(steps=10)))
        await socket.recv()
    final = await wait_for_status(agent, "hung-up", {"succeeded", "failed", "cancelled"})
    assert final[""]["status"] == "succeeded"
    assert final["9"]["images"]


async def test_a_cached_run_finishing_before_anyone_listens_still_ends(agent):
    """The same prompt twice: ComfyUI caches every node, the second run ends at once."""
    async with agent.client() as client:
        await client.post("/api/run", json=CORE_WORKFLOW)
    async with agent.connect() as socket:
        await socket.send(json.dumps(CORE_WORKFLOW))
        frames = await asyncio.wait_for(frames_until_closed(socket), 20)
    assert frames[-1]["type"] == "result"
    assert all(frames[-1]["data"][node]["value"] == frames[-1]["data"][node]["max"] == 1 for node in "123")
