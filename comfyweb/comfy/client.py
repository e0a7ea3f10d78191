"""Asyncio client for ComfyUI's HTTP + WebSocket protocol, shared by the GPU agent and the web runner.

ComfyUI is stateful: a prompt goes in with `POST /prompt`, its progress comes back on a
separate `/ws?clientId=` socket that only carries messages for prompts submitted with that
client id. `run()` hides that: it attaches the socket *before* submitting (execution may
start before the POST answer arrives), derives the client id from the prompt id (so a later
`follow()` from another process re-attaches to the same stream), and falls back to
`/history/{id}` when the socket drops or the run finished before anyone listened.

A run ends on `execution_success` (or `execution_error` / `execution_interrupted`) for its prompt:
the outputs are those of the `executed` messages, so nothing more is read. ComfyUI's closing
`executing {node: null}` may come a good while later (≈0.3 s on a real server, after it has written
the history), and `/history` is read only when the stream was not whole (attached mid-run, or the
socket dropped and was re-attached).

With `coalesce=True` (the web worker's runners), what the socket has buffered is read in one go and its
progress messages are folded together: one `on_progress` call per batch and per node, instead of one per
message (a sampler's step is two messages, and a worker follows hundreds of runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import json
import logging
import mimetypes
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import certifi
import httpx
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State

try:  # a fast JSON parser for the progress frames, where installed (the web worker's requirements)
    from orjson import loads as parse_json
except ImportError:  # pragma: no cover - the GPU agent's image may not have it
    parse_json = json.loads

from comfyweb.comfy.errors import ComfyHTTPError, ComfyTimeout, ComfyUnavailable, PromptValidationError
from comfyweb.comfy.progress import (
    CANCELLED,
    FAILED,
    fold_history,
    fold_message,
    is_final,
    new_progress,
    output_images,
    task_status,
)

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[dict], Awaitable[None]]
PreviewCallback = Callable[[str | None, str, bytes], Awaitable[None]]

END_MESSAGES = frozenset({"execution_success", "execution_error", "execution_interrupted"})
HISTORY_POLL_SECONDS = 1.0  # how often a quiet run is checked against /history (lost socket, missed end)
UNAVAILABLE_GRACE_SECONDS = 5.0  # a run survives ComfyUI being unreachable this long (a blip, a proxy restart)
# Closing the message socket with frames still unread: past 16 of them the websockets package stops
# reading, so it never sees ComfyUI's answering close frame and would wait its default 10 s. A stopped
# or cancelled run must not hang that long (the agent's shutdown fails its tasks within seconds).
SOCKET_CLOSE_TIMEOUT = 1.0
READ_BATCH_MAX = 256  # messages folded together at most (a run that fell behind still reports now and then)
PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA = 1, 4  # binary frame event types (ComfyUI server.BinaryEventTypes)


@dataclass
class RunResult:
    """How a prompt ended: `status` is succeeded | failed | cancelled, `progress` the final object."""

    prompt_id: str
    status: str
    progress: dict
    error: dict | None = None
    outputs: list[dict] = field(default_factory=list)
    node_errors: dict = field(default_factory=dict)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CAs), made once per process instead of per client."""
    return ssl.create_default_context(cafile=certifi.where())


def client_id_for(prompt_id: str) -> str:
    """The socket client id of a prompt: derived, so any process can re-attach to its messages."""
    return f"comfyweb-{prompt_id}"


FEATURE_FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


def parse_preview_frame(frame: bytes) -> tuple[str | None, str | None, str, bytes] | None:
    """Decode a binary preview frame into (node_id, prompt_id, mime type, image bytes); None if unknown."""
    if len(frame) < 8:
        return None
    event = int.from_bytes(frame[:4], "big")
    if event == PREVIEW_IMAGE:
        image_format = int.from_bytes(frame[4:8], "big")
        return None, None, "image/png" if image_format == 2 else "image/jpeg", frame[8:]
    if event == PREVIEW_IMAGE_WITH_METADATA:
        length = int.from_bytes(frame[4:8], "big")
        try:
            meta = parse_json(frame[8 : 8 + length])
        except ValueError:
            return None
        return meta.get("node_id"), meta.get("prompt_id"), meta.get("image_type", "image/jpeg"), frame[8 + length :]
    return None


class ComfyClient:
    """One ComfyUI server. Use as `async with ComfyClient(url) as comfy:`; every call has a timeout."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 30.0,
        unavailable_grace: float = UNAVAILABLE_GRACE_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.unavailable_grace = unavailable_grace
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Backends are internal services: never route them through a proxy from the environment.
        # One SSL context for every client: building one costs more than a whole plain-HTTP run.
        self.http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, headers=self.headers, trust_env=False, verify=ssl_context()
        )
        self._ahead: dict[str, asyncio.Task] = {}  # client id → its socket being opened ahead of its run
        self._draining: dict[str, asyncio.Task] = {}  # client id → reading an idle socket opened ahead

    async def __aenter__(self) -> ComfyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for job in [*self._ahead.values(), *self._draining.values()]:
            job.cancel()
        for client_id in list(self._ahead):
            socket = await self._take_ahead(client_id)
            if socket is not None:
                await socket.close()
        await self.http.aclose()

    # --- HTTP -------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ComfyTimeout(f"ComfyUI at {self.base_url} did not answer {method} {path} in time") from exc
        except httpx.TransportError as exc:
            raise ComfyUnavailable(f"ComfyUI at {self.base_url} is unreachable: {exc or type(exc).__name__}") from exc
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ComfyHTTPError(method, path, response.status_code, _body(response))
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise ComfyHTTPError(method, path, response.status_code, response.text[:300]) from exc

    async def submit(self, prompt: dict, client_id: str, prompt_id: str | None = None) -> dict:
        """`POST /prompt`; returns ComfyUI's answer (`prompt_id`, `number`, `node_errors`).

        A 400 raises PromptValidationError with ComfyUI's `error` and `node_errors` intact.
        """
        body: dict[str, Any] = {"prompt": prompt, "client_id": client_id}
        if prompt_id:
            body["prompt_id"] = prompt_id
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            raise PromptValidationError(400, _body(response))
        if response.status_code >= 400:
            raise ComfyHTTPError("POST", "/prompt", response.status_code, _body(response))
        return response.json()

    async def history(self, prompt_id: str | None = None) -> dict:
        """`/history/{id}` (`{}` when ComfyUI does not know it) or the whole history."""
        return await self._json("GET", f"/history/{prompt_id}" if prompt_id else "/history")

    async def queue(self) -> dict:
        return await self._json("GET", "/queue")

    async def queued_prompt_ids(self) -> tuple[set[str], set[str]]:
        """(running, pending) prompt ids."""
        queue = await self.queue()
        running = {item[1] for item in queue.get("queue_running", []) if len(item) > 1}
        pending = {item[1] for item in queue.get("queue_pending", []) if len(item) > 1}
        return running, pending

    async def upload_image(
        self, data: bytes, filename: str, subfolder: str = "", overwrite: bool = False, image_type: str = "input"
    ) -> dict:
        """`POST /upload/image`; returns `{"name", "subfolder", "type"}` (ComfyUI may rename)."""
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        form = {"subfolder": subfolder, "type": image_type, "overwrite": "true" if overwrite else "false"}
        return await self._json("POST", "/upload/image", files={"image": (filename, data, mime)}, data=form)

    async def view(self, filename: str, subfolder: str = "", image_type: str = "output") -> bytes:
        """The bytes of an output (or input/temp) file via `/view`."""
        params = {"filename": filename, "subfolder": subfolder, "type": image_type}
        response = await self._request("GET", "/view", params=params)
        if response.status_code != 200:
            raise ComfyHTTPError("GET", "/view", response.status_code, response.text[:300])
        return response.content

    async def interrupt(self, prompt_id: str | None = None) -> bool:
        """Interrupt the running prompt; with `prompt_id`, only when it is that one (never someone else's)."""
        if prompt_id is not None:
            running, _pending = await self.queued_prompt_ids()
            if prompt_id not in running:
                return False
        await self._json("POST", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {})
        return True

    async def delete_queued(self, prompt_ids: list[str]) -> None:
        """Remove prompts that have not started yet (`POST /queue {"delete": [...]}`)."""
        await self._json("POST", "/queue", json={"delete": list(prompt_ids)})

    async def take_off(self, prompt_ids: set[str] | list[str]) -> tuple[set[str], set[str]]:
        """Take prompts off ComfyUI: delete those still pending, interrupt those running (never another).

        One look at the queue decides; returns (deleted, interrupted) prompt ids.
        """
        wanted = set(prompt_ids)
        running, pending = await self.queued_prompt_ids()
        deleted, interrupted = pending & wanted, running & wanted
        if deleted:
            await self.delete_queued(sorted(deleted))
        for prompt_id in sorted(interrupted):
            await self._json("POST", "/interrupt", json={"prompt_id": prompt_id})
        return deleted, interrupted

    async def object_info(self, node_class: str | None = None) -> dict:
        return await self._json("GET", f"/object_info/{node_class}" if node_class else "/object_info")

    async def system_stats(self) -> dict:
        return await self._json("GET", "/system_stats")

    # --- runs -------------------------------------------------------------------------------

    def ws_url(self, client_id: str) -> str:
        base = self.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}/ws?clientId={client_id}"

    def open_ahead(self) -> str:
        """A new prompt id whose message socket opens now, in the background: its `run()` finds it open.

        Opening the socket is a good part of a short run's time outside ComfyUI's execution. Until its run
        takes it, the socket is read and dropped from (only ComfyUI's broadcasts can come before the prompt
        is submitted), so an idle socket never makes ComfyUI wait.
        """
        prompt_id = str(uuid.uuid4())
        client_id = client_id_for(prompt_id)
        self._ahead[client_id] = asyncio.get_running_loop().create_task(self._connect_ahead(client_id))
        return prompt_id

    async def _connect_ahead(self, client_id: str) -> Any | None:
        socket = await self._connect(client_id)
        if socket is not None:
            self._draining[client_id] = asyncio.get_running_loop().create_task(_drain(socket))
        return socket

    async def _take_ahead(self, client_id: str) -> Any | None:
        """The socket opened ahead for `client_id`, if it is open; None otherwise."""
        opening = self._ahead.pop(client_id, None)
        if opening is None:
            return None
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        socket = opening.result() if opening.done() and not opening.cancelled() else None
        draining = self._draining.pop(client_id, None)
        if draining is not None:  # done before the prompt is submitted: nothing of it is read away
            draining.cancel()  # websockets' recv() may be cancelled without losing a frame
        if socket is not None and socket.state is not State.OPEN:  # ComfyUI restarted meanwhile
            close_in_background(socket)
            return None
        return socket

    async def _connect(self, client_id: str) -> Any | None:
        """Open the message socket; None when it cannot be opened (the run then relies on /history)."""
        try:
            socket = await websockets.connect(
                self.ws_url(client_id),
                additional_headers=self.headers,
                max_size=None,
                open_timeout=self.timeout,
                ping_interval=20,
                ping_timeout=self.timeout,
                close_timeout=SOCKET_CLOSE_TIMEOUT,
                compression=None,  # small JSON on a LAN: deflating each message costs more CPU than it saves
            )
            # Previews then name their node and prompt (type 4 frames) instead of the legacy anonymous ones.
            await socket.send(json.dumps(FEATURE_FLAGS))
            return socket
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            logger.warning("ComfyUI socket %s unavailable (%s); following by /history", self.base_url, exc)
            return None

    async def run(
        self,
        prompt: dict,
        prompt_id: str | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        on_preview: PreviewCallback | None = None,
        timeout: float | None = None,
        copy_progress: bool = True,
        on_submitted: Callable[[], None] | None = None,
        coalesce: bool = False,
    ) -> RunResult:
        """Submit `prompt` and follow it to the end; `on_progress` gets a copy after every change.

        `on_submitted()` is called once ComfyUI has accepted the prompt, before its first message is read.

        With `copy_progress=False` it gets the live object instead, valid only during the call: for
        callers that keep a few of many thousand updates and copy only those. With `coalesce=True` it is
        called once per batch of buffered messages (and before each node starts), not once per message.

        Raises PromptValidationError when ComfyUI refuses the prompt, ComfyTimeout after `timeout`
        seconds (the prompt keeps running on ComfyUI: the caller decides whether to interrupt).
        """
        prompt_id = prompt_id or str(uuid.uuid4())
        client_id = client_id_for(prompt_id)
        socket = await self._take_ahead(client_id) or await self._connect(client_id)
        try:
            answer = await self.submit(prompt, client_id, prompt_id)
        except BaseException:
            if socket is not None:
                await socket.close()
            raise
        prompt_id = answer.get("prompt_id", prompt_id)
        if on_submitted is not None:
            on_submitted()
        progress = new_progress(prompt, prompt_id)
        on_progress = _copying(on_progress) if copy_progress else on_progress
        whole = socket is not None  # attached before submitting: every message of the run comes to us
        result = await self._follow(
            prompt_id, client_id, progress, socket, on_progress, on_preview, timeout, whole, coalesce=coalesce
        )
        result.node_errors = answer.get("node_errors") or {}
        return result

    async def follow(
        self,
        prompt_id: str,
        *,
        prompt: dict | None = None,
        progress: dict | None = None,
        on_progress: ProgressCallback | None = None,
        on_preview: PreviewCallback | None = None,
        timeout: float | None = None,
        copy_progress: bool = True,
        coalesce: bool = False,
    ) -> RunResult:
        """Attach to a prompt submitted earlier (by `run()` here or in another process)."""
        client_id = client_id_for(prompt_id)
        progress = copy.deepcopy(progress) if progress else new_progress(prompt or {}, prompt_id)
        progress[""]["prompt_id"] = prompt_id
        socket = await self._connect(client_id)
        on_progress = _copying(on_progress) if copy_progress else on_progress
        return await self._follow(
            prompt_id, client_id, progress, socket, on_progress, on_preview, timeout, False, coalesce=coalesce
        )

    async def _follow(
        self,
        prompt_id: str,
        client_id: str,
        progress: dict,
        socket: Any | None,
        on_progress: ProgressCallback | None,
        on_preview: PreviewCallback | None,
        timeout: float | None,
        whole: bool,
        *,
        coalesce: bool = False,
    ) -> RunResult:
        """Follow a prompt to its end. `whole`: the socket has seen the run from its start."""
        loop = asyncio.get_running_loop()
        settled_by_history = False
        deadline = loop.time() + timeout if timeout else None
        vanished = 0
        unreachable_since: float | None = None
        connection_lost = False  # a prompt that vanishes after this was lost by a restart, not deleted
        check_history = socket is None or not whole  # attached late: maybe it is over already
        try:
            while True:
                if deadline is not None and loop.time() >= deadline:
                    raise ComfyTimeout(f"prompt {prompt_id} did not finish within {timeout:g} s")
                if check_history:
                    check_history = False
                    try:
                        state = await self._settle_from_history(prompt_id, progress)
                    except ComfyUnavailable:
                        connection_lost = True
                        unreachable_since = unreachable_since or loop.time()
                        if loop.time() - unreachable_since >= self.unavailable_grace:
                            raise
                        await asyncio.sleep(min(HISTORY_POLL_SECONDS, self.unavailable_grace / 4))
                        check_history = True
                        continue
                    unreachable_since = None
                    if state == "done":
                        settled_by_history = True
                        break
                    vanished = vanished + 1 if state == "gone" else 0
                    if vanished >= 2 and connection_lost:  # ComfyUI restarted and forgot the prompt
                        raise ComfyUnavailable(f"ComfyUI at {self.base_url} restarted and lost prompt {prompt_id}")
                    if vanished >= 2:  # deleted from the queue before it ran: ComfyUI never says so
                        progress[""]["status"] = CANCELLED
                        progress[""]["error"] = {"type": "deleted", "message": "removed from the ComfyUI queue"}
                        break
                if socket is None:
                    await asyncio.sleep(HISTORY_POLL_SECONDS)
                    socket = await self._connect(client_id)
                    whole = False
                    check_history = True
                    continue
                wait = HISTORY_POLL_SECONDS * 5
                if deadline is not None:
                    wait = max(0.01, min(wait, deadline - loop.time()))
                try:
                    async with asyncio.timeout(wait):
                        batch = await read_buffered(socket) if coalesce else [await socket.recv()]
                except TimeoutError:
                    check_history = True  # quiet: maybe the end was never sent to us
                    continue
                except ConnectionClosed:
                    logger.info("ComfyUI socket closed during prompt %s; re-attaching", prompt_id)
                    connection_lost = True
                    whole = False
                    socket = None
                    check_history = True
                    continue
                if await self._messages(batch, prompt_id, progress, on_progress, on_preview):
                    break
        finally:
            if socket is not None:
                close_in_background(socket)
        if not settled_by_history and not (whole and is_final(progress)):
            # Part of the run went by unseen: /history has what we missed (outputs, the error).
            entry = (await self.history(prompt_id)).get(prompt_id)
            if entry:
                fold_history(progress, entry)
        progress[""]["node"] = None
        if on_progress:
            await on_progress(progress)
        return RunResult(
            prompt_id=prompt_id,
            status=task_status(progress),
            progress=progress,
            error=progress[""].get("error"),
            outputs=output_images(progress),
        )

    async def _messages(
        self,
        batch: list[str | bytes],
        prompt_id: str,
        progress: dict,
        on_progress: ProgressCallback | None,
        on_preview: PreviewCallback | None,
    ) -> bool:
        """Fold a batch of frames read together; True when one ends the prompt (nothing after it is read).

        `on_progress` is called once for the batch's changes, and before a node starts when the batch
        changed something before it: a node's last step is never folded away behind the next node."""
        pending = False
        for raw in batch:
            if isinstance(raw, bytes):
                await self._preview(raw, prompt_id, progress, on_preview)
                continue
            message = _ours(raw, prompt_id)
            if message is None:
                continue
            kind = message.get("type")
            if pending and kind == "executing" and on_progress:
                await on_progress(progress)
                pending = False
            changed = fold_message(progress, message)
            # The end: `execution_success`/an error for our prompt, or `executing` with node null *and* our
            # prompt id (a bare one is a reconnect echo).
            data = message.get("data") or {}
            if data.get("prompt_id") == prompt_id and (
                kind in END_MESSAGES or (kind == "executing" and data.get("node") is None)
            ):
                return True  # the final state is handed over by the caller
            pending = pending or changed
        if pending and on_progress:
            await on_progress(progress)
        return False

    async def _preview(self, frame: bytes, prompt_id: str, progress: dict, on_preview: PreviewCallback | None) -> None:
        parsed = parse_preview_frame(frame)
        if parsed is None or on_preview is None:
            return
        node_id, frame_prompt_id, mime, image = parsed
        if frame_prompt_id not in (None, prompt_id):
            return
        await on_preview(node_id or progress[""].get("node"), mime, image)

    async def _settle_from_history(self, prompt_id: str, progress: dict) -> str:
        """'done' when /history has the prompt, 'gone' when neither history nor queue knows it, else 'waiting'."""
        entry = (await self.history(prompt_id)).get(prompt_id)
        if entry:
            fold_history(progress, entry)
            if not is_final(progress):
                progress[""]["status"] = FAILED
            return "done"
        running, pending = await self.queued_prompt_ids()
        if prompt_id in running or prompt_id in pending:
            return "waiting"
        return "gone"


def _ours(raw: str, prompt_id: str) -> dict | None:
    """A text frame's message when it concerns `prompt_id` (or names no prompt); None otherwise."""
    try:
        message = parse_json(raw)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    data = message.get("data") or {}
    if not isinstance(data, dict) or data.get("prompt_id", prompt_id) != prompt_id:
        return None
    if message.get("type") == "executing" and data.get("node") is None and "prompt_id" not in data:
        return None
    return message


async def read_buffered(socket: Any) -> list[str | bytes]:
    """The next message, and every whole message already buffered behind it (no wait for more)."""
    batch = [await socket.recv()]
    frames = getattr(getattr(socket, "recv_messages", None), "frames", None)
    queue = getattr(frames, "queue", None)  # websockets' asyncio Assembler; absent elsewhere: one at a time
    while queue and queue[0].fin and len(batch) < READ_BATCH_MAX:
        try:
            batch.append(await socket.recv())  # returns at once: the message is buffered whole
        except ConnectionClosed:
            break  # the next read raises it again and the run re-attaches
    return batch


_closing: set[asyncio.Task] = set()  # sockets being closed, kept referenced until they are


async def _drain(socket: Any) -> None:
    """Read and drop what an idle socket receives until it is taken (cancelled) or closed."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await socket.recv()


def close_in_background(socket: Any) -> None:
    """Close a message socket without waiting for ComfyUI's closing handshake.

    The run is over when its end message arrived; ComfyUI, busy writing the history of the prompt,
    may take a good while to answer the close frame (up to SOCKET_CLOSE_TIMEOUT), and the caller
    should not wait for it.
    """
    closing = asyncio.get_running_loop().create_task(socket.close())
    _closing.add(closing)
    closing.add_done_callback(_closing.discard)


def _copying(on_progress: ProgressCallback | None) -> ProgressCallback | None:
    """`on_progress` given its own copy of each state (the client keeps changing the live one)."""
    if on_progress is None:
        return None

    async def call_with_copy(progress: dict) -> None:
        await on_progress(copy.deepcopy(progress))

    return call_with_copy


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]
