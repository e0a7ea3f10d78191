"""`/api/health`, `/api/ready` (503 when ComfyUI is down, warming up or the queue is full) and `/metrics`."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from tests.agent.conftest import http_site, load_image_prompt, png_bytes, wait_for_status
from tests.conftest import free_port
from tests.prompts import CORE_WORKFLOW, sampler_workflow

ASYNC = {"X-Fc-Invocation-Type": "Async"}


async def test_ready_when_comfyui_answers(agent):
    async with agent.client() as client:
        health = await client.get("/api/health")
        ready = await client.get("/api/ready")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"ready": True}


async def test_not_ready_when_comfyui_is_down(start_agent):
    async with start_agent(comfyui_url=f"http://127.0.0.1:{free_port()}") as server, server.client() as client:
        health = await client.get("/api/health")
        ready = await client.get("/api/ready")
        metrics = (await client.get("/metrics")).text
    assert health.status_code == 200
    assert ready.status_code == 503 and ready.headers["retry-after"]
    assert "ComfyUI is not answering" in ready.json()["reasons"]
    assert "comfyweb_agent_comfyui_up 0.0" in metrics
    assert "comfyweb_agent_ready 0.0" in metrics


async def test_a_full_queue_refuses_work_with_503_and_retry_after(start_agent, emulator):
    emulator.config.step_ms = 50
    async with start_agent(max_queue=1) as server, server.client() as client:
        first = await client.post("/api/run", json=sampler_workflow(steps=5000), headers={**ASYNC, "task-id": "a"})
        second = await client.post(
            "/api/run", json=sampler_workflow(steps=5000, seed=2), headers={**ASYNC, "task-id": "b"}
        )
        third = await client.post("/api/run", json=CORE_WORKFLOW, headers=ASYNC)
        ready = await client.get("/api/ready")
        metrics = (await client.get("/metrics")).text
        for task_id in ("b", "a"):
            await client.delete("/api/run", params={"id": task_id})
    assert first.status_code == second.status_code == 202
    assert third.status_code == 503 and third.headers["retry-after"]
    assert third.json()["message"] == "QueueFullError"
    assert ready.status_code == 503 and "the queue is full" in ready.json()["reasons"]
    assert "comfyweb_agent_queue_depth 1.0" in metrics
    assert "comfyweb_agent_running_tasks 1.0" in metrics
    assert 'comfyweb_agent_tasks_total{outcome="rejected"} 1.0' in metrics


async def test_metrics_count_finished_tasks_and_input_bytes(agent):
    from tests.agent.conftest import data_url

    picture = png_bytes()
    async with agent.client() as client:
        await client.post("/api/run", json=load_image_prompt(data_url(picture)))
        answer = await client.get("/metrics")
    text = answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert 'comfyweb_agent_tasks_total{outcome="succeeded"} 1.0' in text
    assert 'comfyweb_agent_task_duration_seconds_count{outcome="succeeded"} 1.0' in text
    assert f'comfyweb_agent_input_fetch_bytes_total{{source="base64"}} {float(len(picture))}' in text
    assert f"comfyweb_agent_upload_bytes_total {float(len(picture))}" in text
    assert "comfyweb_agent_comfyui_up 1.0" in text and "comfyweb_agent_concurrency 1.0" in text


async def test_ready_waits_for_the_warm_up_prompt(start_agent, emulator, tmp_path):
    release = asyncio.Event()

    async def held(request: web.Request) -> web.Response:  # the warm-up's picture comes when the test says
        await release.wait()
        return web.Response(body=png_bytes((8, 8)), content_type="image/png")

    async with http_site([web.get("/held.png", held)]) as site:
        warmup = tmp_path / "warmup.json"
        warmup.write_text(json.dumps(load_image_prompt(f"{site}/held.png")), encoding="utf-8")
        async with (
            start_agent(warmup_prompt=str(warmup), fetch_allow_hosts=("127.0.0.1",)) as server,
            server.client() as client,
        ):
            during = await client.get("/api/ready")
            release.set()
            await asyncio.wait_for(server.agent.warm.wait(), 120)
            after = await client.get("/api/ready")
    assert during.status_code == 503
    assert "the warm-up prompt has not finished" in during.json()["reasons"]
    assert after.status_code == 200


async def test_a_silent_comfyui_fails_the_task_as_stalled(start_agent, emulator):
    emulator.set_faults(stall_seconds=5)
    async with start_agent(stall_seconds=0.5) as server, server.client() as client:
        answer = await client.post("/api/run", json=CORE_WORKFLOW, headers={"task-id": "stuck"})
    assert answer.status_code == 502
    assert answer.json()["message"] == "ComfyUIStalledError"
    stored = await server.agent.store.get("stuck")
    assert stored["progress"][""]["status"] == "failed"


async def test_status_reflects_queued_then_running(agent, emulator):
    emulator.config.step_ms = 30
    async with agent.client() as client:
        await client.post("/api/run", json=sampler_workflow(steps=5000), headers={**ASYNC, "task-id": "one"})
        await client.post("/api/run", json=sampler_workflow(steps=5, seed=3), headers={**ASYNC, "task-id": "two"})
        queued = (await client.get("/api/status", params={"id": "two"})).json()
        await client.delete("/api/run", params={"id": "one"})
        done = await wait_for_status(agent, "two", {"succeeded"})
    assert queued[""]["status"] == "queued"
    assert done["3"]["value"] == 5
