"""A callback URL hears of the task's end: signed with HMAC-SHA256, retried, SSRF-guarded."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

from aiohttp import web

from tests.agent.conftest import http_site
from tests.prompts import CORE_WORKFLOW

SECRET = "hook-secret"


async def test_the_final_progress_is_posted_signed_and_retried(start_agent):
    received: list[tuple[bytes, dict]] = []
    delivered = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.read(), dict(request.headers)))
        if len(received) == 1:
            return web.Response(status=503)  # the first try fails: the agent tries again
        delivered.set()
        return web.Response(status=204)

    async with (
        http_site([web.post("/hook", hook)]) as site,
        start_agent(webhook_secret=SECRET, fetch_allow_hosts=("127.0.0.1",)) as server,
        server.client() as client,
    ):
        answer = await client.post(
            "/api/run", json=CORE_WORKFLOW, headers={"task-id": "hooked", "X-Callback-Url": f"{site}/hook"}
        )
        await asyncio.wait_for(delivered.wait(), 60)
    assert answer.status_code == 200
    assert len(received) == 2
    body, headers = received[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Comfyweb-Signature"] == expected
    payload = json.loads(body)
    assert payload["task_id"] == "hooked" and payload["status"] == "succeeded"
    assert payload["progress"]["3"]["images"]


async def test_a_callback_to_a_private_address_is_refused_up_front(agent):
    async with agent.client() as client:
        answer = await client.post("/api/run", json={"prompt": CORE_WORKFLOW, "callback_url": "http://10.0.0.1/hook"})
    assert answer.status_code == 400
    assert "callback URL refused" in answer.json()["error"]
