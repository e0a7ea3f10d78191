"""`X-Fc-Invocation-Type: Async` answers 202 at once; `/api/status?id=` follows the task to its end."""

from __future__ import annotations

from tests.agent.conftest import wait_for_status
from tests.prompts import CORE_WORKFLOW, sampler_workflow


async def test_async_answers_202_with_the_task_id_then_status_shows_the_end(agent):
    headers = {"X-Fc-Invocation-Type": "Async", "task-id": "async-1"}
    async with agent.client() as client:
        answer = await client.post("/api/run", json=sampler_workflow(steps=6), headers=headers)
        assert answer.status_code == 202
        assert answer.headers["task-id"] == "async-1"
        assert answer.json() == {"task_id": "async-1", "status": "queued"}
        final = await wait_for_status(agent, "async-1", {"succeeded"})
        with_results = await client.get("/api/status", params={"id": "async-1", "results": "1"})
    assert final[""]["prompt_id"] and final[""]["error"] is None
    assert final["9"]["images"]
    assert with_results.json()["9"]["results"][0]


async def test_status_of_an_unknown_task_is_a_404_json_error(agent):
    async with agent.client() as client:
        answer = await client.get("/api/status", params={"id": "never-seen"})
    assert answer.status_code == 404
    assert answer.json()["message"] == "LoadProgressError"


async def test_task_ids_that_could_be_paths_are_refused(agent):
    async with agent.client() as client:
        status = await client.get("/api/status", params={"id": "../../etc/passwd"})
        run = await client.post("/api/run", json=CORE_WORKFLOW, headers={"task-id": "../escape"})
        empty = await client.get("/api/status")
    assert status.status_code == run.status_code == empty.status_code == 400
    assert run.json()["message"] == "RequestParamsError"
    assert not list((agent.agent.store.directory.parent).glob("escape*"))


async def test_a_task_id_still_in_flight_cannot_be_reused(agent):
    headers = {"X-Fc-Invocation-Type": "Async", "task-id": "twice"}
    async with agent.client() as client:
        first = await client.post("/api/run", json=sampler_workflow(steps=20), headers=headers)
        second = await client.post("/api/run", json=CORE_WORKFLOW, headers=headers)
    assert first.status_code == 202
    assert second.status_code == 409 and second.json()["message"] == "TaskConflictError"
