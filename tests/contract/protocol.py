"""Wire-level recording of one ComfyUI run, and the normal form two recordings are compared in.

The contract suite drives the emulator and the real ComfyUI with raw HTTP/WebSocket calls (not through
comfyweb.comfy) so that a difference found is a difference of the servers, not of our client.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CALL_TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass
class Recording:
    """What a client sees of one POST /prompt: the answer, every WebSocket message, then the history."""

    workflow: dict
    post_status: int
    post_body: Any
    messages: list[dict] = field(default_factory=list)
    history: dict = field(default_factory=dict)
    # Seconds from the WebSocket's opening to the arrival of each message (same order as `messages`).
    times: list[float] = field(default_factory=list)

    @property
    def prompt_id(self) -> str | None:
        return self.post_body.get("prompt_id") if isinstance(self.post_body, dict) else None


def ws_url(base_url: str, client_id: str) -> str:
    return base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + f"/ws?clientId={client_id}"


def _message_prompt_id(message: dict) -> str | None:
    data = message.get("data")
    return data.get("prompt_id") if isinstance(data, dict) else None


def _is_end(message: dict, prompt_id: str) -> bool:
    data = message.get("data") or {}
    return message.get("type") == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id


async def record_run(
    base_url: str,
    workflow: dict,
    *,
    timeout: float = 60.0,
    on_message: Callable[[dict, aiohttp.ClientSession], Awaitable[None]] | None = None,
) -> Recording:
    """Open /ws first, POST the prompt, read messages until `executing` with node null, then read /history.

    `on_message(message, session)` is awaited after each message of the run (to interrupt it, say).
    """
    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession(timeout=CALL_TIMEOUT) as session:
        opened = time.monotonic()
        async with session.ws_connect(ws_url(base_url, client_id), heartbeat=None) as socket:
            messages: list[dict] = []
            times: list[float] = []

            async def receive(within: float) -> dict:
                message = await _receive_json(socket, timeout=within)
                messages.append(message)
                times.append(round(time.monotonic() - opened, 4))
                return message

            # The server greets a new socket with a status message; wait for it so that it is always first.
            await receive(10)
            body = {"prompt": workflow, "client_id": client_id}
            async with session.post(f"{base_url}/prompt", json=body) as answer:
                recording = Recording(workflow, answer.status, await answer.json(content_type=None))
            recording.messages, recording.times = messages, times
            prompt_id = recording.prompt_id
            if answer.status != 200 or not prompt_id:
                return recording
            async with asyncio.timeout(timeout):
                while not messages or not _is_end(messages[-1], prompt_id):
                    message = await receive(timeout)
                    if on_message is not None:
                        await on_message(message, session)
        async with session.get(f"{base_url}/history/{prompt_id}") as history:
            recording.history = await history.json()
    return recording


async def _receive_json(socket: aiohttp.ClientWebSocketResponse, *, timeout: float) -> dict:
    """The next JSON message; binary frames (previews) are kept as their length and type only."""
    while True:
        frame = await socket.receive(timeout=timeout)
        if frame.type == aiohttp.WSMsgType.TEXT:
            return json.loads(frame.data)
        if frame.type == aiohttp.WSMsgType.BINARY:
            return {"type": "<binary>", "data": {"event": int.from_bytes(frame.data[:4], "big")}}
        raise ConnectionError(f"WebSocket closed before the run ended: {frame.type!r}")


def shape(value: Any) -> Any:
    """The JSON type skeleton of a value: dict keys kept, scalars replaced by their JSON type name.

    Lists become the sorted set of their element shapes, so a traceback of another length or another
    number of history messages has the same shape, while an empty list differs from a non-empty one.
    """
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = {json.dumps(shape(item), sort_keys=True) for item in value}
        return ["list", *sorted(shapes)]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    if value is None:
        return "null"
    raise TypeError(f"not JSON: {value!r}")


def run_messages(recording: Recording) -> list[dict]:
    """The messages that belong to this run: everything carrying its prompt id, in order."""
    if recording.prompt_id is None:
        return []
    return [message for message in recording.messages if _message_prompt_id(message) == recording.prompt_id]


def message_sequence(recording: Recording) -> list[tuple[str, Any]]:
    """(type, shape of data) of every message of the run, in order; the comparison form of a transcript."""
    return [(message["type"], shape(message.get("data"))) for message in run_messages(recording)]


def status_shapes(recording: Recording) -> set[str]:
    """The distinct shapes of the queue `status` broadcasts (their count depends on timing, not on the server)."""
    return {
        json.dumps(shape(message.get("data")), sort_keys=True)
        for message in recording.messages
        if message.get("type") == "status"
    }


def executed_nodes(recording: Recording) -> list[str]:
    return [message["data"]["node"] for message in run_messages(recording) if message["type"] == "executed"]
