"""Every other path, and `/ws`, reach ComfyUI unchanged through the agent."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.agent.conftest import png_bytes
from tests.prompts import CORE_WORKFLOW


async def test_object_info_passes_through_unchanged(agent, emulator):
    async with agent.client() as client, httpx.AsyncClient(base_url=emulator.url) as direct:
        through = await client.get("/object_info/SaveImage")
        straight = await direct.get("/object_info/SaveImage")
        missing = await client.get("/no/such/path")
    assert through.status_code == 200
    assert through.json() == straight.json()
    assert missing.status_code == straight.status_code or missing.status_code == 404


async def test_uploads_and_views_stream_through(agent):
    data = png_bytes((40, 30), "green")
    name = f"proxy-{uuid.uuid4().hex[:8]}.png"
    async with agent.client() as client:
        uploaded = await client.post("/upload/image", files={"image": (name, data, "image/png")})
        viewed = await client.get("/view", params={"filename": name, "type": "input"})
        head = await client.head("/view", params={"filename": name, "type": "input"})
    assert uploaded.status_code == 200 and uploaded.json()["name"] == name
    assert viewed.content == data
    assert head.status_code == 200


async def test_comfyuis_websocket_is_relayed_both_ways(agent):
    client_id = f"through-agent-{uuid.uuid4().hex[:8]}"
    async with agent.connect(f"/ws?clientId={client_id}") as socket:
        status = json.loads(await socket.recv())
        assert status["type"] == "status"
        async with agent.client() as client:
            answer = await client.post("/prompt", json={"prompt": CORE_WORKFLOW, "client_id": client_id})
        prompt_id = answer.json()["prompt_id"]
        kinds = []
        async for raw in socket:
            message = json.loads(raw)
            kinds.append(message["type"])
            data = message.get("data") or {}
            if message["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                break
        await socket.send(json.dumps({"type": "feature_flags", "data": {}}))
        assert json.loads(await socket.recv())["type"] == "feature_flags"
    assert "execution_start" in kinds and "executed" in kinds


async def test_an_unreachable_comfyui_is_a_502_json_error(start_agent):
    from tests.conftest import free_port

    async with start_agent(comfyui_url=f"http://127.0.0.1:{free_port()}") as server, server.client() as client:
        answer = await client.get("/object_info")
    assert answer.status_code == 502
    assert answer.json()["message"] == "ComfyUIUnavailableError"
