"""`POST /api/run` answers with the final progress and the output images, as the fc-comfyui agent does."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from tests.agent.conftest import data_url, png_bytes
from tests.prompts import CORE_WORKFLOW, sampler_workflow


async def test_a_run_answers_the_final_progress_with_base64_results(agent):
    async with agent.client() as client:
        answer = await client.post("/api/run", json=CORE_WORKFLOW, headers={"task-id": "sync-1"})
    assert answer.status_code == 200
    assert answer.headers["task-id"] == "sync-1"
    progress = answer.json()
    assert set(progress) == {"", "1", "2", "3"}
    assert progress[""]["status"] == "succeeded" and progress[""]["error"] is None
    assert all(progress[node]["value"] == progress[node]["max"] >= 1 for node in ("1", "2", "3"))
    (image,) = progress["3"]["images"]
    assert image["type"] == "output"
    (encoded,) = progress["3"]["results"]
    picture = Image.open(io.BytesIO(base64.b64decode(encoded, validate=True)))
    assert picture.size == (32, 24)
    assert len(encoded) % 4 == 0, "standard padded base64"


async def test_a_task_id_is_generated_when_absent_and_the_status_is_stored(agent):
    async with agent.client() as client:
        answer = await client.post("/api/run", json=CORE_WORKFLOW)
        task_id = answer.headers["task-id"]
        stored = await client.get("/api/status", params={"id": task_id})
    assert answer.status_code == 200 and task_id
    assert stored.status_code == 200
    assert stored.json()[""]["status"] == "succeeded"
    assert "results" not in stored.json()["3"], "status leaves the base64 out unless asked"


async def test_the_wrapped_form_and_the_results_flag_are_accepted(agent):
    async with agent.client() as client:
        answer = await client.post("/api/run", json={"prompt": CORE_WORKFLOW, "results": False})
        by_query = await client.post("/api/run", params={"results": "0"}, json=CORE_WORKFLOW)
    assert answer.status_code == 200 and by_query.status_code == 200
    for progress in (answer.json(), by_query.json()):
        assert progress["3"]["images"] and "results" not in progress["3"]


async def test_the_seed_couple_photo_request_runs_with_inline_pictures(agent, couple_photo_prompt):
    """The seed's own request (its prompt; its image URLs replaced by data URLs) through the agent."""
    prompt = json.loads(json.dumps(couple_photo_prompt))
    for node in prompt.values():
        if node["class_type"] == "LoadImage":
            node["inputs"]["image"] = data_url(png_bytes((64, 64), "blue"))
    prompt["3"]["inputs"]["steps"] = 3
    headers = {"Content-Type": "application/json", "task-id": "couple-photo-1"}
    async with agent.client() as client:
        answer = await client.post("/api/run", content=json.dumps(prompt), headers=headers)
    assert answer.status_code == 200, answer.text
    progress = answer.json()
    assert progress[""]["status"] == "succeeded"
    assert set(progress) == {"", *prompt}
    assert progress["9"]["images"] and progress["9"]["results"]
    assert progress["3"]["max"] == 3 and progress["3"]["value"] == 3


async def test_seeds_of_minus_one_become_random_and_are_recorded(agent, tmp_path):
    prompt = sampler_workflow(steps=2, seed=-1)
    async with agent.client() as client:
        answer = await client.post("/api/run", json=prompt, headers={"task-id": "seeded"})
    assert answer.status_code == 200
    record = await agent.agent.store.get("seeded")
    seed = record["seeds"]["3.seed"]
    assert 0 <= seed < 2**53
    assert record["prompt_id"] == answer.json()[""]["prompt_id"]
    assert answer.json()[""]["seeds"] == {"3.seed": seed}, "the caller learns the seed it got"
    async with agent.client() as client:
        status = (await client.get("/api/status", params={"id": "seeded"})).json()
    assert status[""]["seeds"] == {"3.seed": seed}


async def test_two_runs_at_once_each_get_their_own_images(start_agent):
    """Concurrent runs never share a ComfyUI client id, and a queued prompt does not finish early."""
    import asyncio

    async with start_agent(concurrency=2) as server, server.client() as client:
        first, second = await asyncio.gather(
            client.post("/api/run", json=sampler_workflow(steps=8, seed=1)),
            client.post("/api/run", json=sampler_workflow(steps=2, seed=2)),
        )
    assert first.status_code == second.status_code == 200
    names = {first.json()["9"]["images"][0]["filename"], second.json()["9"]["images"][0]["filename"]}
    assert len(names) == 2
    assert first.json()["3"]["value"] == 8 and second.json()["3"]["value"] == 2
