"""With AGENT_TOKEN set every route needs it (probes excepted); CORS only for the listed origins."""

from __future__ import annotations

import pytest
import websockets

from tests.prompts import CORE_WORKFLOW

TOKEN = "s3cret-token"


async def test_a_missing_or_wrong_token_is_a_401_json_error(start_agent):
    async with start_agent(token=TOKEN) as server, server.client() as client:
        missing = await client.post("/api/run", json=CORE_WORKFLOW)
        wrong = await client.get("/api/status", params={"id": "x"}, headers={"Authorization": "Bearer nope"})
        proxied = await client.get("/object_info")
        scraped = await client.get("/metrics")
    for answer in (missing, wrong, proxied, scraped):
        assert answer.status_code == 401
        assert answer.json()["message"] == "UnauthorizedError"
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_the_right_token_runs_and_probes_need_none(start_agent):
    async with start_agent(token=TOKEN) as server, server.client() as client:
        run = await client.post("/api/run", json=CORE_WORKFLOW, headers={"Authorization": f"Bearer {TOKEN}"})
        health = await client.get("/api/health")
        ready = await client.get("/api/ready")
    assert run.status_code == 200 and run.json()[""]["status"] == "succeeded"
    assert health.status_code == 200 and ready.status_code == 200


async def test_websockets_take_the_token_as_header_or_query(start_agent):
    async with start_agent(token=TOKEN) as server:
        with pytest.raises(websockets.InvalidStatus):
            async with server.connect():
                pass
        async with server.connect(additional_headers={"Authorization": f"Bearer {TOKEN}"}) as socket:
            await socket.send('{"1": {')
            assert '"RequestParamsError"' in await socket.recv()
        async with server.connect(f"/api/run/ws?token={TOKEN}") as socket:
            await socket.send('{"1": {')
            assert '"RequestParamsError"' in await socket.recv()


async def test_cors_answers_only_allowed_origins_and_never_with_credentials(start_agent):
    async with start_agent(cors_origins=("https://app.example",), token=TOKEN) as server, server.client() as client:
        preflight = await client.options(
            "/api/run",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, task-id, content-type"},
        )  # fmt: skip
        stranger = await client.options(
            "/api/run", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        simple = await client.get("/api/health", headers={"Origin": "https://app.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "task-id" in preflight.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in preflight.headers
    assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert simple.headers["access-control-expose-headers"] == "task-id"
