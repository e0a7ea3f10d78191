"""Raw HTTP/WebSocket helpers for the emulator tests (the protocol client is tested elsewhere)."""

from __future__ import annotations

import json
import uuid

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=20)


def shape(value: object) -> object:
    """The JSON shape of a value: keys and kinds, no ids, numbers or strings."""
    if isinstance(value, dict):
        # node ids as keys (progress_state) only say which nodes; ComfyUI's pick order may differ
        return {("<node>" if key.isdigit() else key): shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


async def run_prompt(url: str, body: dict, *, session: aiohttp.ClientSession, client_id: str | None = None) -> dict:
    """POST a prompt with a fresh socket attached first; collect messages until `executing` null."""
    client_id = client_id or uuid.uuid4().hex
    async with session.ws_connect(f"{url}/ws?clientId={client_id}") as ws:
        first = json.loads((await ws.receive(timeout=10)).data)
        answer = await session.post(f"{url}/prompt", json={**body, "client_id": client_id})
        post_body = await answer.json(content_type=None)
        messages = [first]
        if answer.status != 200:
            return {"status": answer.status, "body": post_body, "messages": messages, "history": None}
        prompt_id = post_body["prompt_id"]
        while True:
            frame = await ws.receive(timeout=15)
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            messages.append(message)
            if message["type"] == "executing" and message["data"]["node"] is None:
                if message["data"]["prompt_id"] == prompt_id:
                    break
    history = await (await session.get(f"{url}/history/{prompt_id}")).json()
    return {"status": 200, "body": post_body, "messages": messages, "history": history.get(prompt_id)}


def types(messages: list[dict]) -> list[str]:
    return [message["type"] for message in messages]
