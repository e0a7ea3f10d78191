"""The emulator's aiohttp application: ComfyUI's HTTP routes, WebSocket and one queue executor."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import mimetypes
import os
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web
from PIL import Image

from .config import FAULT_KEYS, EmulatorConfig
from .nodes import REAL_NODES, SAMPLER_CLASSES, NodeFailure, RunContext, input_file_hash, simulate
from .validation import PromptRejected, object_info, recorded_object_info, validate_prompt

CONFIG_KEY = web.AppKey("config", EmulatorConfig)
STATE_KEY = web.AppKey("state", object)
VERSION = "0.3.75"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class QueueItem:
    number: float
    prompt_id: str
    prompt: dict
    extra: dict
    outputs: list[str]

    def as_list(self) -> list:
        return [self.number, self.prompt_id, self.prompt, self.extra, self.outputs]


PREVIEW_IMAGE, PREVIEW_WITH_METADATA = 1, 4  # ComfyUI's BinaryEventTypes
PREVIEW_JPEG = 1  # the image type word of a legacy preview frame (2 is PNG)


class Interrupted(Exception):
    pass


@dataclass
class EmulatorState:
    """Queue, history, sockets and cache of one emulator."""

    config: EmulatorConfig
    pending: list[QueueItem] = field(default_factory=list)
    running: QueueItem | None = None
    history: dict[str, dict] = field(default_factory=dict)
    sockets: dict[str, web.WebSocketResponse] = field(default_factory=dict)
    sent_counts: dict[str, int] = field(default_factory=dict)
    cache: dict[str, tuple] = field(default_factory=dict)
    counter: int = 0
    interrupt_flag: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    last_node_id: str | None = None  # the node executing now, re-announced to a reconnecting client
    preview_metadata: set[str] = field(default_factory=set)  # clients that announced supports_preview_metadata

    @property
    def faults(self) -> dict:
        return self.config.faults

    def queue_remaining(self) -> int:
        return len(self.pending) + (1 if self.running else 0)

    async def send(self, kind: str, data: dict, sid: str | None = None) -> None:
        """To one client's socket, or to every socket when sid is None (like ComfyUI's send_sync)."""
        targets = [sid] if sid is not None else list(self.sockets)
        for target in targets:
            ws = self.sockets.get(target)
            if ws is None or ws.closed:
                continue
            try:
                await ws.send_str(json.dumps({"type": kind, "data": data}))
            except (ConnectionError, RuntimeError):
                continue
            self.sent_counts[target] = self.sent_counts.get(target, 0) + 1
            limit = self.faults.get("drop_ws_after")
            if limit is not None and self.sent_counts[target] >= int(limit):
                await ws.close()

    async def send_bytes(self, frame: bytes, sid: str | None) -> None:
        """A binary frame (a preview) to one client, or to every socket."""
        targets = [sid] if sid is not None else list(self.sockets)
        for target in targets:
            ws = self.sockets.get(target)
            if ws is not None and not ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_bytes(frame)

    async def send_status(self, sid: str | None = None) -> None:
        await self.send("status", {"status": {"exec_info": {"queue_remaining": self.queue_remaining()}}}, sid)


# ---------------------------------------------------------------- execution


def _links(prompt: dict, node_id: str) -> list[str]:
    return [
        str(value[0])
        for value in (prompt[node_id].get("inputs") or {}).values()
        if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt
    ]


def execution_order(prompt: dict, outputs: list[str], cached: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The order ComfyUI's ExecutionList runs a prompt in.

    Each output is added with its uncached upstream nodes (a cached output node is still staged: it sends
    `executed` from the cache). Of the nodes whose inputs are ready, ComfyUI picks an output node first,
    then a node that feeds an output node, then one two links away from an output, else the first added.
    """
    info = recorded_object_info()
    output_set = set(outputs)

    def is_output(node_id: str) -> bool:
        return node_id in output_set or bool(info.get(prompt[node_id]["class_type"], {}).get("output_node"))

    blocked_by: dict[str, int] = {}  # pending nodes in the order they were added, and how many inputs they wait for
    blocking: dict[str, dict[str, None]] = {}
    for output in outputs:
        stack, links = [output], []
        while stack:
            node_id = stack.pop()
            if node_id in blocked_by:
                continue
            blocked_by[node_id], blocking[node_id] = 0, {}
            for source in _links(prompt, node_id):
                if source not in cached:
                    stack.append(source)
                    links.append((source, node_id))
        for source, target in links:
            if target not in blocking[source]:
                blocking[source][target] = None
                blocked_by[target] += 1

    def pick(ready: list[str]) -> str:
        for node_id in ready:
            if is_output(node_id):
                return node_id
        for node_id in ready:
            if any(is_output(target) for target in blocking[node_id]):
                return node_id
        for node_id in ready:
            if any(is_output(t) for target in blocking[node_id] for t in blocking.get(target, ())):
                return node_id
        return ready[0]

    order: list[str] = []
    while blocked_by:
        ready = [node_id for node_id, count in blocked_by.items() if count == 0]
        if not ready:
            break  # a cycle; validation lets none through
        node_id = pick(ready)
        order.append(node_id)
        del blocked_by[node_id]
        for target in blocking.pop(node_id):
            blocked_by[target] -= 1
    return order


def signature(prompt: dict, node_id: str, input_dir: Path, memo: dict) -> str:
    """Cache key: class, constant inputs, upstream signatures, and the bytes of loaded files."""
    if node_id in memo:
        return memo[node_id]
    node = prompt[node_id]
    parts = [node["class_type"]]
    for name, value in sorted(node.get("inputs", {}).items()):
        if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt:
            parts.append(f"{name}=<{signature(prompt, str(value[0]), input_dir, memo)}:{value[1]}>")
        else:
            parts.append(f"{name}={json.dumps(value, sort_keys=True)}")
            if node["class_type"].startswith("LoadImage") and name == "image" and isinstance(value, str):
                parts.append(input_file_hash(input_dir, value))
    memo[node_id] = "|".join(parts)
    return memo[node_id]


class PromptExecutor:
    """Runs one prompt and sends ComfyUI's message sequence for it.

    Like ComfyUI, a prompt without `client_id` sends no execution messages at all, but its
    `progress_state` and `progress` go to every socket.
    """

    def __init__(self, state: EmulatorState, item: QueueItem) -> None:
        self.state = state
        self.item = item
        self.sid = item.extra.get("client_id")
        self.nodes_state: dict[str, dict] = {}
        self.outputs: dict[str, dict] = {}
        self.meta: dict[str, dict] = {}
        self.messages: list = []
        self.executed: list[str] = []

    async def send(self, kind: str, data: dict) -> None:
        """An execution message: to the prompt's client only, and only if it has one."""
        if self.sid is not None:
            await self.state.send(kind, data, self.sid)

    async def send_progress(self, kind: str, data: dict) -> None:
        """A progress message: to the prompt's client, or to everyone when it has none."""
        await self.state.send(kind, data, self.sid)

    async def progress_state(self) -> None:
        await self.send_progress("progress_state", {"prompt_id": self.item.prompt_id, "nodes": dict(self.nodes_state)})

    async def send_preview(self, node_id: str, step: int, steps: int) -> None:
        """A latent preview between `progress_state` and `progress`, as ComfyUI with a preview method:
        with metadata (type 4) to a client that announced it supports that, else the legacy type 1."""
        shade = round(255 * step / steps)
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (shade, 96, 255 - shade)).save(buffer, "JPEG", quality=80)
        image = buffer.getvalue()
        if self.sid in self.state.preview_metadata:
            meta = json.dumps(
                {
                    "node_id": node_id,
                    "prompt_id": self.item.prompt_id,
                    "display_node_id": node_id,
                    "parent_node_id": None,
                    "real_node_id": node_id,
                    "image_type": "image/jpeg",
                }
            ).encode()
            frame = PREVIEW_WITH_METADATA.to_bytes(4, "big") + len(meta).to_bytes(4, "big") + meta + image
        else:
            frame = PREVIEW_IMAGE.to_bytes(4, "big") + PREVIEW_JPEG.to_bytes(4, "big") + image
        await self.state.send_bytes(frame, self.sid)

    def node_state(self, node_id: str, value: float, maximum: float, state: str) -> None:
        self.nodes_state[node_id] = {
            "value": value, "max": maximum, "state": state, "node_id": node_id, "prompt_id": self.item.prompt_id,
            "display_node_id": node_id, "parent_node_id": None, "real_node_id": node_id,
        }  # fmt: skip

    async def note(self, kind: str, data: dict, *, broadcast: bool = False) -> None:
        """A status message: kept for the history; sent to the client, or to everyone if `broadcast`."""
        self.messages.append([kind, data])
        if self.sid is not None or broadcast:
            await self.state.send(kind, data, self.sid)

    def check_interrupt(self) -> None:
        if self.state.interrupt_flag:
            self.state.interrupt_flag = False
            raise Interrupted

    async def run(self) -> None:
        item, config, prompt_id = self.item, self.state.config, self.item.prompt_id
        prompt = item.prompt
        await self.note("execution_start", {"prompt_id": prompt_id, "timestamp": now_ms()})
        memo: dict[str, str] = {}
        keys = {node_id: signature(prompt, node_id, config.input_dir, memo) for node_id in prompt}
        # ComfyUI's cache keeps only what the current prompt can use.
        wanted = set(keys.values())
        cache = self.state.cache = {key: value for key, value in self.state.cache.items() if key in wanted}
        cached = [node_id for node_id in prompt if keys[node_id] in cache]
        await self.note("execution_cached", {"nodes": cached, "prompt_id": prompt_id, "timestamp": now_ms()})
        values = {node_id: cache[keys[node_id]][0] for node_id in cached}
        ctx = RunContext(config.input_dir, config.output_dir, config.temp_dir, [])
        status = "success"
        try:
            for node_id in execution_order(prompt, item.outputs, set(cached)):
                # Looked up again now: a node identical to one that ran earlier in this prompt is a cache hit.
                if keys[node_id] in cache:
                    values[node_id], ui = cache[keys[node_id]]
                    await self.replay_cached(node_id, ui)
                    continue
                self.check_interrupt()
                await self.apply_faults_before(node_id)
                values[node_id], ui = await self.execute_node(node_id, values, ctx)
                cache[keys[node_id]] = (values[node_id], ui)
                self.executed.append(node_id)
            await self.note("execution_success", {"prompt_id": prompt_id, "timestamp": now_ms()})
        except Interrupted:
            status = "error"
            current = self.current_node
            await self.note("execution_interrupted", {
                "prompt_id": prompt_id, "node_id": current, "node_type": prompt[current]["class_type"],
                "executed": list(self.executed), "timestamp": now_ms()}, broadcast=True)  # fmt: skip
        except NodeFailure as exc:
            status = "error"
            current = self.current_node
            await self.note("execution_error", {
                "prompt_id": prompt_id, "node_id": current, "node_type": prompt[current]["class_type"],
                "executed": list(self.executed), "exception_message": str(exc), "exception_type": exc.exception_type,
                "traceback": traceback.format_tb(exc.__traceback__), "current_inputs": self.current_inputs,
                "current_outputs": list(self.item.prompt), "timestamp": now_ms()})  # fmt: skip
        self.state.history[prompt_id] = {
            "prompt": item.as_list(),
            "outputs": self.outputs,
            "status": {"status_str": status, "completed": status == "success", "messages": self.messages},
            "meta": self.meta,
        }

    async def replay_cached(self, node_id: str, ui: dict | None) -> None:
        """A cache hit: `executed` with the cached UI output (null for most nodes), no `executing`."""
        if self.sid is not None:
            await self.send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                         "prompt_id": self.item.prompt_id})  # fmt: skip
            if ui is not None:
                self.outputs[node_id] = ui
                self.meta[node_id] = self.meta_of(node_id)
        self.node_state(node_id, 1.0, 1.0, "finished")
        await self.progress_state()

    current_node: str = ""
    current_inputs: dict = {}

    def meta_of(self, node_id: str) -> dict:
        return {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}

    async def apply_faults_before(self, node_id: str) -> None:
        faults = self.state.faults
        first = not self.executed
        if faults.get("exit_at_node") == node_id or (faults.get("exit_mid_run") and first):
            os._exit(3)
        stall = faults.get("stall_seconds")
        if stall and (faults.get("stall_at_node") == node_id or (not faults.get("stall_at_node") and first)):
            await asyncio.sleep(float(stall))

    async def execute_node(self, node_id: str, values: dict, ctx: RunContext) -> tuple:
        prompt_id = self.item.prompt_id
        node = self.item.prompt[node_id]
        class_type = node["class_type"]
        self.current_node = node_id
        inputs = {}
        for name, value in node.get("inputs", {}).items():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in values:
                produced = values[str(value[0])]
                slot = value[1] if isinstance(value[1], int) else 0
                inputs[name] = produced[slot] if slot < len(produced) else None
            else:
                inputs[name] = value
        self.current_inputs = {k: [v if isinstance(v, str | int | float) else repr(v)] for k, v in inputs.items()}
        self.node_state(node_id, 0.0, 1.0, "running")
        await self.progress_state()
        await self.send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id})
        self.state.last_node_id = node_id
        faults = self.state.faults
        if faults.get("fail_node") == node_id or faults.get("fail_class_type") == class_type:
            raise NodeFailure(f"Emulated failure of node {node_id} ({class_type})", "RuntimeError")
        if class_type in SAMPLER_CLASSES:
            steps = inputs.get("steps")
            steps = steps if isinstance(steps, int) and steps > 0 else 20
            for step in range(1, steps + 1):
                await asyncio.sleep(self.state.config.step_ms / 1000)
                self.check_interrupt()
                self.node_state(node_id, step, steps, "running")
                await self.progress_state()
                previews = self.state.config.preview_method != "none"
                # The order of the recordings: a metadata preview before its step's `progress`, a
                # legacy one after it (ComfyUI encodes them on different paths).
                with_metadata = self.sid in self.state.preview_metadata
                if previews and with_metadata:
                    await self.send_preview(node_id, step, steps)
                progress = {"value": step, "max": steps, "prompt_id": prompt_id, "node": node_id}
                await self.send_progress("progress", progress)
                if previews and not with_metadata:
                    await self.send_preview(node_id, step, steps)
            maximum: float = steps
        else:
            maximum = 1.0
        ui: dict | None = None
        if class_type in REAL_NODES:
            call = REAL_NODES[class_type]
            declared = recorded_object_info()[class_type]["input"]
            known = {**declared.get("required", {}), **declared.get("optional", {})}
            arguments = {name: value for name, value in inputs.items() if name in known}
            try:
                result = await asyncio.to_thread(call, ctx, **arguments)
            except NodeFailure:
                raise
            except Exception as exc:
                raise NodeFailure(str(exc), type(exc).__name__) from exc
            if class_type in ("SaveImage", "PreviewImage"):
                output, ui = result
            else:
                output = result
        else:
            output = simulate(class_type, inputs, ctx)
        if ui:
            self.outputs[node_id] = ui
            self.meta[node_id] = self.meta_of(node_id)
            await self.send(
                "executed", {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": prompt_id}
            )
        self.node_state(node_id, maximum if class_type in SAMPLER_CLASSES else 1.0, maximum, "finished")
        await self.progress_state()
        return tuple(output), ui


async def executor_loop(state: EmulatorState) -> None:
    """The one worker: takes prompts in queue order (front first) and runs them."""
    while True:
        while not state.pending:
            state.wakeup.clear()
            await state.wakeup.wait()
        state.pending.sort(key=lambda item: item.number)
        item = state.pending.pop(0)
        state.running = item
        state.interrupt_flag = False
        await state.send_status()
        try:
            await PromptExecutor(state, item).run()
        except Exception:
            traceback.print_exc()
            failed = {"status_str": "error", "completed": False, "messages": []}
            state.history.setdefault(
                item.prompt_id, {"prompt": item.as_list(), "outputs": {}, "meta": {}, "status": failed}
            )
        state.running = None
        state.last_node_id = None
        await state.send_status()
        if item.extra.get("client_id") is not None:
            await state.send("executing", {"node": None, "prompt_id": item.prompt_id}, item.extra["client_id"])


# ---------------------------------------------------------------- HTTP


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]  # type: ignore[return-value]


async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response({"exec_info": {"queue_remaining": state_of(request).queue_remaining()}})


# extra_data keys ComfyUI keeps out of the queue and the history.
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


async def post_prompt(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await request.json()
    except ValueError:
        return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
    if not isinstance(body, dict):
        body = {}
    if "number" in body:
        number: float = float(body["number"])
    else:  # like ComfyUI, every POST without a number takes one, even a rejected one
        number = state.counter
        if body.get("front"):
            number = -number
        state.counter += 1
    if "prompt" not in body:
        return web.json_response(
            {"error": {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided",
                       "extra_info": {}}, "node_errors": {}}, status=400)  # fmt: skip
    prompt = body["prompt"]
    if not isinstance(prompt, dict):
        return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
    targets = body.get("partial_execution_targets")
    try:
        outputs, node_errors = validate_prompt(
            prompt, strict=state.config.strict, input_dir=state.config.input_dir, targets=targets
        )
    except PromptRejected as rejected:
        return web.json_response(rejected.body, status=400)
    prompt_id = str(body.get("prompt_id") or uuid.uuid4())
    extra = dict(body.get("extra_data") or {})
    if "client_id" in body:
        extra["client_id"] = body["client_id"]
    for key in SENSITIVE_EXTRA_DATA_KEYS:
        extra.pop(key, None)
    extra["create_time"] = now_ms()
    state.pending.append(QueueItem(number, prompt_id, prompt, extra, outputs))
    state.wakeup.set()
    await state.send_status()
    return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    state = state_of(request)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    sid = request.query.get("clientId") or uuid.uuid4().hex
    older = state.sockets.get(sid)
    state.sockets[sid] = ws
    state.sent_counts[sid] = 0
    if older is not None and not older.closed:
        await older.close()
    try:
        await state.send("status", {"status": {"exec_info": {"queue_remaining": state.queue_remaining()}}, "sid": sid},
                         sid)  # fmt: skip
        # Like ComfyUI: a reconnecting client of the running prompt hears the current node (no prompt_id).
        if state.running and state.running.extra.get("client_id") == sid and state.last_node_id is not None:
            await state.send("executing", {"node": state.last_node_id}, sid)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                with contextlib.suppress(ValueError):
                    data = json.loads(message.data)
                    if isinstance(data, dict) and data.get("type") == "feature_flags":
                        if (data.get("data") or {}).get("supports_preview_metadata") is True:
                            state.preview_metadata.add(sid)
                        await state.send("feature_flags", {"supports_preview_metadata": True,
                                                           "max_upload_size": 104857600}, sid)  # fmt: skip
    finally:
        if state.sockets.get(sid) is ws:
            del state.sockets[sid]
            state.preview_metadata.discard(sid)
    return ws


async def get_history(request: web.Request) -> web.Response:
    state = state_of(request)
    prompt_id = request.match_info.get("prompt_id")
    if prompt_id:
        entry = state.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry else {})
    items = list(state.history.items())
    max_items = request.query.get("max_items")
    if max_items and max_items.isdigit():
        items = items[-int(max_items) :]
    return web.json_response(dict(items))


async def post_history(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await request.json()
    if body.get("clear"):
        state.history.clear()
    for prompt_id in body.get("delete", []):
        state.history.pop(prompt_id, None)
    return web.Response(status=200)


async def get_queue(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.json_response({
        "queue_running": [state.running.as_list()] if state.running else [],
        "queue_pending": [item.as_list() for item in sorted(state.pending, key=lambda i: i.number)],
    })  # fmt: skip


async def post_queue(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await request.json()
    if body.get("clear"):
        state.pending.clear()
    if "delete" in body:
        doomed = set(body["delete"])
        state.pending = [item for item in state.pending if item.prompt_id not in doomed]
    await state.send_status()
    return web.Response(status=200)


async def post_interrupt(request: web.Request) -> web.Response:
    state = state_of(request)
    body: dict = {}
    if request.can_read_body:
        with contextlib.suppress(ValueError):
            body = await request.json() or {}
    wanted = body.get("prompt_id") if isinstance(body, dict) else None
    if state.running and (not wanted or wanted == state.running.prompt_id):
        state.interrupt_flag = True
    return web.Response(status=200)


def folder_for(config: EmulatorConfig, kind: str) -> Path | None:
    return {"output": config.output_dir, "input": config.input_dir, "temp": config.temp_dir}.get(kind)


# `name.png [input]`: ComfyUI drops the annotation and the character before it.
ANNOTATIONS = {"[output]": "output", "[input]": "input", "[temp]": "temp"}
# Served as downloads, never rendered (as ComfyUI does).
DOWNLOAD_ONLY = {"text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _view_body(path: Path, query: Mapping[str, str]) -> tuple[bytes, str] | None:
    """The converted image for `preview=` or `channel=rgb|a`, or None to send the file as it is."""
    if "preview" in query:
        options = query["preview"].split(";")
        image_format = options[0] if options[0] in ("webp", "jpeg") and "a" not in query.get("channel", "") else "webp"
        quality = int(options[-1]) if options[-1].isdigit() else 90
        with Image.open(path) as image:
            if image_format == "jpeg" or query.get("channel") == "rgb":
                image = image.convert("RGB")
            buffer = io.BytesIO()
            image.save(buffer, format=image_format, quality=quality)
        return buffer.getvalue(), f"image/{image_format}"
    channel = query.get("channel", "rgba")
    if channel == "rgb":
        with Image.open(path) as image:
            return _png(image.convert("RGB")), "image/png"
    if channel == "a":
        with Image.open(path) as image:
            alpha = image.getchannel("A") if image.mode == "RGBA" else Image.new("L", image.size, 255)
            result = Image.new("RGBA", image.size)
            result.putalpha(alpha)
            return _png(result), "image/png"
    return None


def _view_path(config: EmulatorConfig, query: Mapping[str, str]) -> Path | int:
    """The file /view serves, or ComfyUI's status: 400 bad name or type, 403 subfolder outside, 404."""
    if "filename" not in query:
        return 404
    filename, base = query["filename"], None
    for suffix, kind in ANNOTATIONS.items():
        if filename.endswith(suffix):
            filename, base = filename[: -len(suffix) - 1], folder_for(config, kind)
            break
    if not filename or filename[0] == "/" or ".." in filename:
        return 400
    if base is None:
        base = folder_for(config, query.get("type", "output"))
    if base is None:
        return 400
    folder = Path(os.path.abspath(base))
    if "subfolder" in query:
        inner = Path(os.path.abspath(folder / query["subfolder"]))
        if not inner.is_relative_to(folder):
            return 403
        folder = inner
    path = folder / os.path.basename(filename)
    return path if path.is_file() else 404


async def get_view(request: web.Request) -> web.StreamResponse:
    path = _view_path(request.app[CONFIG_KEY], request.query)
    if isinstance(path, int):
        return web.Response(status=path)
    headers = {"Content-Disposition": f'filename="{path.name}"'}
    converted = await asyncio.to_thread(_view_body, path, request.query)
    if converted is not None:
        return web.Response(body=converted[0], content_type=converted[1], headers=headers)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type in DOWNLOAD_ONLY:
        content_type = "application/octet-stream"
    return web.FileResponse(path, headers={**headers, "Content-Type": content_type})


async def post_upload_image(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    post = await request.post()
    upload = post.get("image")
    if upload is None or not hasattr(upload, "file"):
        return web.Response(status=400)
    kind = str(post.get("type") or "input")
    base = folder_for(config, kind) or config.input_dir
    subfolder = str(post.get("subfolder") or "")
    folder = (base / subfolder).resolve()
    if not folder.is_relative_to(base.resolve()):
        return web.Response(status=400)
    name = os.path.basename(upload.filename or "")
    if not name:
        return web.Response(status=400)
    data = upload.file.read()
    folder.mkdir(parents=True, exist_ok=True)
    overwrite = str(post.get("overwrite", "")).lower() in ("true", "1")
    target = folder / name
    if not overwrite:
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        counter = 1
        while target.exists() and target.read_bytes() != data:
            name = f"{stem} ({counter}){dot}{ext}"
            target = folder / name
            counter += 1
    target.write_bytes(data)
    return web.json_response({"name": name, "subfolder": subfolder, "type": kind})


async def get_object_info(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    info = object_info(config.input_dir)
    node_class = request.match_info.get("node_class")
    if node_class is not None:
        return web.json_response({node_class: info[node_class]} if node_class in info else {})
    return web.json_response(info)


# What ComfyUI 0.3.75 (the version emulated) requires of its frontend and workflow templates packages.
FRONTEND_VERSION = "1.32.9"
TEMPLATES_VERSION = "0.7.25"


def memory() -> tuple[int, int]:
    """(total, available) bytes of RAM, 0 where the platform does not say."""
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0, 0


async def get_system_stats(request: web.Request) -> web.Response:
    total, free = memory()
    return web.json_response({
        "system": {"os": os.name, "ram_total": total, "ram_free": free, "comfyui_version": VERSION,
                   "required_frontend_version": FRONTEND_VERSION, "installed_templates_version": TEMPLATES_VERSION,
                   "required_templates_version": TEMPLATES_VERSION, "python_version": sys.version,
                   "pytorch_version": "emulated", "embedded_python": False, "argv": sys.argv},
        "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": total, "vram_free": free,
                     "torch_vram_total": total, "torch_vram_free": free}],
    })  # fmt: skip


async def get_features(request: web.Request) -> web.Response:
    return web.json_response({"supports_preview_metadata": True, "max_upload_size": 104857600})


async def get_emulator_info(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    return web.json_response({"emulator": True, "comfyui_version": VERSION, "strict": config.strict,
                              "step_ms": config.step_ms, "faults": config.faults})  # fmt: skip


async def post_faults(request: web.Request) -> web.Response:
    """Set fault switches at run time; `{"clear": true}` removes them all."""
    config = request.app[CONFIG_KEY]
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    if body.pop("clear", False):
        config.faults.clear()
    unknown = sorted(set(body) - set(FAULT_KEYS))
    if unknown:
        return web.json_response({"error": f"unknown fault switches: {unknown}", "known": list(FAULT_KEYS)},
                                 status=400)  # fmt: skip
    for key, value in body.items():
        if value is None:
            config.faults.pop(key, None)
        else:
            config.faults[key] = value
    return web.json_response({"faults": config.faults})


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[CONFIG_KEY].faults})


def build_app(config: EmulatorConfig) -> web.Application:
    """The emulator app; its executor starts and stops with the app."""
    recorded_object_info()
    app = web.Application(client_max_size=110 * 1024 * 1024)
    app[CONFIG_KEY] = config
    state = EmulatorState(config)
    app[STATE_KEY] = state

    async def lifecycle(app: web.Application):
        task = asyncio.create_task(executor_loop(state))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for ws in list(state.sockets.values()):
            await ws.close()

    app.cleanup_ctx.append(lifecycle)
    routes = [
        web.get("/ws", websocket),
        web.get("/prompt", get_prompt),
        web.post("/prompt", post_prompt),
        web.get("/history", get_history),
        web.get("/history/{prompt_id}", get_history),
        web.post("/history", post_history),
        web.get("/queue", get_queue),
        web.post("/queue", post_queue),
        web.post("/interrupt", post_interrupt),
        web.get("/view", get_view),
        web.post("/upload/image", post_upload_image),
        web.get("/object_info", get_object_info),
        web.get("/object_info/{node_class}", get_object_info),
        web.get("/system_stats", get_system_stats),
        web.get("/features", get_features),
    ]
    app.add_routes(routes)
    app.add_routes([web.route(r.method, "/api" + r.path, r.handler) for r in routes])
    app.add_routes([web.get("/emulator/info", get_emulator_info), web.post("/emulator/faults", post_faults),
                    web.get("/emulator/faults", get_faults)])  # fmt: skip
    return app
