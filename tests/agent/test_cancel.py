"""`DELETE /api/run?id=` removes a queued task or interrupts a running one; the status becomes cancelled."""

from __future__ import annotations

import json

from tests.agent.conftest import frames_until_closed, wait_for_status
from tests.prompts import CORE_WORKFLOW, sampler_workflow

ASYNC = {"X-Fc-Invocation-Type": "Async"}


async def test_cancelling_a_running_task_interrupts_comfyui(agent, emulator):
    emulator.config.step_ms = 50
    async with agent.client() as client:
        await client.post("/api/run", json=sampler_workflow(steps=100), headers={**ASYNC, "task-id": "run-c"})
        await wait_for_status(agent, "run-c", {"running"})
        answer = await client.delete("/api/run", params={"id": "run-c"})
        stored = await client.get("/api/status", params={"id": "run-c"})
        history = (await client.get("/history")).json()
    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    assert stored.json()[""]["status"] == "cancelled"
    assert stored.json()["9"]["value"] == 0 and not stored.json()["9"]["images"], "the run stopped before saving"
    (entry,) = history.values()
    assert any(kind == "execution_interrupted" for kind, _ in entry["status"]["messages"])


async def test_cancelling_a_queued_task_removes_it_before_it_reaches_comfyui(agent, emulator):
    emulator.config.step_ms = 50
    async with agent.client() as client:
        await client.post("/api/run", json=sampler_workflow(steps=5000), headers={**ASYNC, "task-id": "first"})
        await client.post("/api/run", json=CORE_WORKFLOW, headers={**ASYNC, "task-id": "second"})
        answer = await client.delete("/api/run", params={"id": "second"})
        await client.delete("/api/run", params={"id": "first"})
        history = (await client.get("/history")).json()
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    second = await wait_for_status(agent, "second", {"cancelled"})
    assert second[""]["error"]["message"] == "cancelled by the caller"
    assert len(history) <= 1, "the queued prompt never reached ComfyUI"


async def test_a_sync_caller_and_a_websocket_hear_of_the_cancel(agent, emulator):
    emulator.config.step_ms = 50
    async with agent.connect(additional_headers={"task-id": "ws-cancel"}) as socket:
        await socket.send(json.dumps(sampler_workflow(steps=100)))
        await socket.recv()
        async with agent.client() as client:
            await wait_for_status(agent, "ws-cancel", {"running"})
            await client.delete("/api/run", params={"id": "ws-cancel"})
        frames = await frames_until_closed(socket)
    assert frames[-1]["type"] == "error"
    assert frames[-1]["data"]["message"] == "TaskCancelledError"


async def test_cancelling_unknown_or_finished_tasks(agent):
    async with agent.client() as client:
        await client.post("/api/run", json=CORE_WORKFLOW, headers={"task-id": "finished"})
        unknown = await client.delete("/api/run", params={"id": "nope"})
        finished = await client.delete("/api/run", params={"id": "finished"})
        missing = await client.delete("/api/run")
    assert unknown.status_code == 404 and unknown.json()["message"] == "LoadProgressError"
    assert finished.status_code == 409 and finished.json()["progress"][""]["status"] == "succeeded"
    assert missing.status_code == 400
