"""The emulator's aiohttp application: ComfyUI's HTTP routes and WebSocket over one executor (execution.py)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import mimetypes
import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from aiohttp import WSMsgType, web
from PIL import Image

from .config import FAULT_KEYS, EmulatorConfig
from .execution import EmulatorState, QueueItem, executor_loop, now_ms
from .validation import PromptRejected, object_info, recorded_object_info, validate_prompt

CONFIG_KEY = web.AppKey("config", EmulatorConfig)
STATE_KEY = web.AppKey("state", EmulatorState)
VERSION = "0.3.75"


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


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
