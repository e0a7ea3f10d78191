"""A loopback agent answers only for loopback names (DNS rebinding), and a page of another origin may not
change anything through the passthrough (a form or text/plain post needs no CORS preflight)."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from tests.agent.conftest import raw_request, recording_backend
from tests.prompts import CORE_WORKFLOW


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8189", "127.0.0.1.nip.io", "10.0.0.1"])
async def test_a_foreign_host_name_is_refused_on_loopback(agent, emulator, host):
    async with agent.client() as client:
        run = await client.post("/api/run", json=CORE_WORKFLOW, headers={"Host": host, "Origin": f"http://{host}"})
        status = await client.get("/api/status", params={"id": "x"}, headers={"Host": host})
        passthrough = await client.get("/history", headers={"Host": host})
    for answer in (run, status, passthrough):
        assert answer.status_code == 400 and answer.json()["message"] == "InvalidHostError"
    with pytest.raises(websockets.InvalidStatus):
        async with agent.connect(additional_headers={"Host": host}):
            pass
    async with httpx.AsyncClient(trust_env=False) as direct:
        assert (await direct.get(f"{emulator.url}/history")).json() == {}, "nothing reached ComfyUI"


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "[::1]", "gpu.internal"])
async def test_loopback_names_and_configured_names_are_answered(start_agent, host):
    async with start_agent(allowed_hosts=("GPU.internal",)) as server, server.client() as client:
        port = server.url.rsplit(":", 1)[1]
        answer = await client.get("/api/status", params={"id": "x"}, headers={"Host": f"{host}:{port}"})
    assert answer.status_code == 404 and answer.json()["message"] == "LoadProgressError"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
async def test_a_cross_origin_post_through_the_passthrough_is_refused(start_agent, content_type):
    async with recording_backend() as (backend, seen), start_agent(comfyui_url=backend) as server:
        body = json.dumps({"prompt": CORE_WORKFLOW}).encode()
        for path in ("/prompt", "/api/prompt", "/queue", "/interrupt"):
            foreign = f"Content-Type: {content_type}\r\nOrigin: https://evil.example\r\n"
            status, answer = await raw_request(server.url, "POST", path, body=body, headers=foreign)
            assert status == 403 and b"ForbiddenOriginError" in answer, (path, status, answer)
        own_origin = f"Origin: {server.url}\r\nContent-Type: application/json\r\n"
        same, _ = await raw_request(server.url, "POST", "/prompt", body=body, headers=own_origin)
        not_a_browser, _ = await raw_request(server.url, "POST", "/prompt", body=body)
    assert same == 200 and not_a_browser == 200
    assert seen == ["POST /prompt HTTP/1.1", "POST /prompt HTTP/1.1"], "only the two allowed posts got through"


async def test_an_allowed_cors_origin_may_post(start_agent):
    allowed = ("https://app.example",)
    async with recording_backend() as (backend, seen), start_agent(comfyui_url=backend, cors_origins=allowed) as server:
        headers = "Origin: https://app.example\r\nContent-Type: text/plain\r\n"
        status, _ = await raw_request(server.url, "POST", "/prompt", body=b"{}", headers=headers)
    assert status == 200 and seen == ["POST /prompt HTTP/1.1"]
