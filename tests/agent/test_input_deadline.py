"""Downloading input URLs counts against the task's timeout, and the task says `downloading` meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from tests.agent.conftest import frames_until_closed, http_site, png_bytes


def slow_images(prompt_images: int) -> dict:
    """A prompt with `prompt_images` LoadImage nodes, each on its own slow URL (filled in by the test)."""
    prompt = {}
    for index in range(prompt_images):
        prompt[f"{index + 1}"] = {"class_type": "LoadImage", "inputs": {"image": ""}}
    prompt["90"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "slow"}}
    return prompt


async def test_three_slow_urls_cannot_hold_the_slot_beyond_the_tasks_timeout(start_agent):
    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(400):  # 40 s per picture, each below the per-download limit
                await response.write(b"\x89")
                await asyncio.sleep(0.1)
        return response

    async with (
        http_site([web.get("/{name}.png", slow)]) as site,
        start_agent(fetch_allow_hosts=("127.0.0.1",), fetch_timeout=60) as server,
        server.client() as client,
    ):
        prompt = slow_images(3)
        for index in range(3):
            prompt[f"{index + 1}"]["inputs"]["image"] = f"{site}/p{index}.png"
        started = time.monotonic()
        answer = await client.post("/api/run", json=prompt, params={"timeout": "1.5"})
        elapsed = time.monotonic() - started
        after = await client.post("/api/run", json=slow_images(0) | {"1": {"class_type": "EmptyImage", "inputs": {
            "width": 8, "height": 8, "batch_size": 1, "color": 0}}})  # fmt: skip
    assert answer.status_code == 504, answer.text
    assert answer.json()["message"] == "TaskTimeoutError"
    assert "input images took longer" in answer.json()["error"]["message"]
    assert elapsed < 15, f"the slot was held {elapsed:.1f} s for a 1.5 s task"  # 10x: a bound, not a target
    assert after.status_code == 200, "the slot is free again"


async def test_the_task_shows_downloading_while_it_fetches(start_agent, emulator):
    requested, release = asyncio.Event(), asyncio.Event()
    picture = png_bytes((8, 8), "blue")

    async def held(request: web.Request) -> web.Response:
        requested.set()
        await release.wait()
        return web.Response(body=picture, content_type="image/png")

    async with (
        http_site([web.get("/held.png", held)]) as site,
        start_agent(fetch_allow_hosts=("127.0.0.1",)) as server,
        server.client() as client,
    ):
        prompt = {
            "1": {"class_type": "LoadImage", "inputs": {"image": f"{site}/held.png"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "dl"}},
        }
        headers = {"X-Fc-Invocation-Type": "Async", "task-id": "fetching"}
        assert (await client.post("/api/run", json=prompt, headers=headers)).status_code == 202
        await asyncio.wait_for(requested.wait(), 30)  # the agent is fetching the picture now
        shown = (await client.get("/api/status", params={"id": "fetching"})).json()[""]["status"]
        stored = await server.agent.store.get("fetching")
        release.set()
        async with server.connect("/api/run/ws?id=fetching") as socket:
            frames = await frames_until_closed(socket)
    assert shown == "downloading"
    assert stored["progress"][""]["status"] == "downloading", "the shared store says so too"
    assert frames[-1]["type"] == "result", frames[-1]
