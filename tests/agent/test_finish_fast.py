"""A run ends on `execution_success`: outputs come from the `executed` messages, not from a late `/history` read.

A scripted ComfyUI stands in for a real one that sends its closing `executing {node: null}` late (a real
0.3.75 often sends it ≈0.3 s after `execution_success`): here it never does, and `/history` is slow.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from comfyweb.comfy.client import ComfyClient
from tests.agent.conftest import http_site, png_bytes

PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "fast"}},
}
IMAGE = {"filename": "fast_00001_.png", "subfolder": "", "type": "output"}


def scripted_comfyui(history_calls: list[float], *, reconnect: bool = False, opened: dict | None = None):
    sockets: dict[str, web.WebSocketResponse] = {}
    opened = {} if opened is None else opened  # client id → when its socket opened

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        opened[request.query["clientId"]] = time.monotonic()
        sockets[request.query["clientId"]] = socket
        await socket.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}})
        async for _ in socket:
            pass
        return socket

    async def prompt(request: web.Request) -> web.Response:
        body = await request.json()
        prompt_id, socket = body["prompt_id"], sockets[body["client_id"]]

        async def play() -> None:
            for kind, data in [
                ("execution_start", {}),
                ("execution_cached", {"nodes": []}),
                ("executing", {"node": "1"}),
                ("executing", {"node": "2"}),
                ("executed", {"node": "2", "output": {"images": [IMAGE]}}),
                ("execution_success", {}),
            ]:
                await socket.send_json({"type": kind, "data": {**data, "prompt_id": prompt_id}})
            # ... and no `executing {node: null}` for a long while

        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(play()))
        return web.json_response({"prompt_id": prompt_id, "number": 1, "node_errors": {}})

    async def history(request: web.Request) -> web.Response:
        history_calls.append(time.monotonic())
        await asyncio.sleep(2)
        return web.json_response({})

    async def view(request: web.Request) -> web.Response:
        return web.Response(body=png_bytes((8, 8)), content_type="image/png")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"system": {"argv": []}, "devices": []})

    async def queue(request: web.Request) -> web.Response:
        return web.json_response({"queue_running": [], "queue_pending": []})

    return http_site([
        web.get("/ws", ws), web.post("/prompt", prompt), web.get("/history/{id}", history),
        web.get("/history", history), web.get("/view", view), web.get("/system_stats", stats),
        web.get("/queue", queue),
    ])  # fmt: skip


async def test_the_client_finishes_on_execution_success_without_reading_history():
    history_calls: list[float] = []
    async with scripted_comfyui(history_calls) as url, ComfyClient(url) as comfy:
        started = time.monotonic()
        result = await comfy.run(PROMPT, timeout=10)
        elapsed = time.monotonic() - started
    assert result.status == "succeeded"
    assert result.outputs == [{"node": "2", **IMAGE}]
    assert result.progress["2"]["images"] == [IMAGE] and result.progress[""]["node"] is None
    assert history_calls == [], "the socket saw the whole run: nothing to recover"
    assert elapsed < 10, "no wait for a closing message that never comes"  # a bound, not a target


async def test_the_agent_answers_as_soon_as_comfyui_reports_success(start_agent):
    history_calls: list[float] = []
    async with scripted_comfyui(history_calls) as url, start_agent(comfyui_url=url) as server:
        async with server.client() as client:
            started = time.monotonic()
            answer = await client.post("/api/run", json=PROMPT)
            elapsed = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert answer.json()["2"]["images"] == [IMAGE] and answer.json()["2"]["results"]
    assert history_calls == []
    assert elapsed < 10, "no wait for a closing message that never comes"  # a bound, not a target


async def test_the_next_run_finds_its_comfyui_socket_open(start_agent):
    """Opening ComfyUI's message socket is part of a run's time: the agent opens the next one ahead."""
    opened: dict[str, float] = {}
    async with scripted_comfyui([], opened=opened) as url, start_agent(comfyui_url=url) as server:
        async with server.client() as client:
            first = await client.post("/api/run", json=PROMPT)
            asked = time.monotonic()
            second = await client.post("/api/run", json=PROMPT)
    client_id = f"comfyweb-{second.json()['']['prompt_id']}"
    assert first.status_code == second.status_code == 200
    assert opened[client_id] < asked, "the second run's socket was open before it was asked for"


async def test_following_a_run_midway_still_reads_history_for_what_it_missed(comfy_url):
    """`follow()` attaches after the start: the outputs it did not see come from /history."""
    import httpx

    async with ComfyClient(comfy_url) as comfy:
        first = await comfy.run(PROMPT, timeout=60)
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(f"{comfy_url}/history/{first.prompt_id}")).json()
        followed = await comfy.follow(first.prompt_id, prompt=PROMPT, timeout=30)
    assert followed.status == "succeeded"
    assert [ref["filename"] for ref in followed.outputs] == [ref["filename"] for ref in first.outputs]
    assert json.dumps(followed.outputs)
