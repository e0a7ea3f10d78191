"""The emulator's execution: the queue, the history and the cache of one emulator, and the executor that
runs a prompt node by node and sends ComfyUI's message sequence for it (ComfyUI's own `execution.py`).

It knows no HTTP: the server (`server.py`) registers the clients' sockets here and puts prompts in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from PIL import Image

from .config import EmulatorConfig
from .nodes import REAL_NODES, SAMPLER_CLASSES, NodeFailure, RunContext, input_file_hash, simulate
from .validation import recorded_object_info


class ClientSocket(Protocol):
    """What the executor needs of a client's WebSocket (aiohttp's WebSocketResponse in the server)."""

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def close(self) -> object: ...


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
    sockets: dict[str, ClientSocket] = field(default_factory=dict)
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
