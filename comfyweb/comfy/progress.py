"""The progress object (fc-comfyui's `TProgress`) and how ComfyUI's messages fold into it.

A progress object is keyed by node id; the key `""` is the whole task. Each entry has
`max`, `value`, `start`, `last_updated` (unix seconds) and `images` (output refs or None),
exactly as the seed's agent reports it (see tests/fixtures/seed/progress_sample.json).
Extensions are new keys only: the `""` entry carries `status`, `prompt_id`, `error` and
`node` (the node running now). A finished node has `value == max`.

These are plain functions over dicts so the agent, the web runner and the tests share them.
"""

from __future__ import annotations

import time
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
DOWNLOADING = "downloading"  # the agent fetches the task's input URLs (before ComfyUI has the prompt)
FINAL_STATUSES = (SUCCEEDED, FAILED, CANCELLED)


def _entry() -> dict:
    return {"max": 0, "value": 0, "start": 0, "last_updated": 0, "images": None}


def new_progress(prompt: dict, prompt_id: str = "") -> dict:
    """An empty progress object with an entry for every node of `prompt`."""
    progress: dict[str, dict] = {"": {**_entry(), "status": QUEUED, "prompt_id": prompt_id, "error": None}}
    for node_id in prompt:
        progress[str(node_id)] = _entry()
    return progress


def task_status(progress: dict) -> str:
    return (progress.get("") or {}).get("status", QUEUED)


def is_final(progress: dict) -> bool:
    return task_status(progress) in FINAL_STATUSES


def any_node_reported(progress: dict) -> bool:
    """Whether ComfyUI said anything of a node of the prompt (ran it, or took it from its cache): `new_progress`
    lists every node from the start, untouched."""
    return any(
        isinstance(entry, dict) and bool(entry.get("last_updated") or entry.get("start") or entry.get("value"))
        for node_id, entry in progress.items()
        if node_id
    )


def _node(progress: dict, node_id: Any) -> dict:
    return progress.setdefault(str(node_id), _entry())


def _touch(progress: dict, entry: dict, now: int) -> None:
    entry["last_updated"] = now
    progress.setdefault("", _entry())["last_updated"] = now


def _start_node(progress: dict, node_id: str, now: int) -> None:
    entry = _node(progress, node_id)
    if not entry["start"]:
        entry["start"] = now
    entry["max"] = max(entry["max"], 1)
    _touch(progress, entry, now)


def _finish_node(progress: dict, node_id: str | None, now: int) -> None:
    if not node_id:
        return
    entry = _node(progress, node_id)
    entry["max"] = max(entry["max"], 1)
    entry["value"] = entry["max"]
    if not entry["start"]:
        entry["start"] = now
    _touch(progress, entry, now)


def _set_status(progress: dict, status: str, now: int) -> None:
    task = progress.setdefault("", _entry())
    if task.get("status") in FINAL_STATUSES and status != task.get("status"):
        return  # the first final status wins (an error is not overwritten by the closing `executing`)
    task["status"] = status
    task["last_updated"] = now


def _error_from_message(kind: str, data: dict) -> dict:
    error = {key: value for key, value in data.items() if key not in ("prompt_id", "timestamp")}
    error["type"] = kind
    error.setdefault("message", data.get("exception_message") or kind.replace("_", " "))
    return error


def fold_message(progress: dict, message: dict, now: int | None = None) -> bool:
    """Apply one ComfyUI WebSocket message (already known to be ours); True when something changed.

    Unknown types and fields are ignored: newer ComfyUI versions add them.
    """
    now = int(now if now is not None else time.time())
    kind = message.get("type")
    data = message.get("data") or {}
    task = progress.setdefault("", _entry())
    if kind == "execution_start":
        _set_status(progress, RUNNING, now)
        task["start"] = task["start"] or now
        return True
    if kind == "execution_cached":
        for node_id in data.get("nodes") or []:
            _finish_node(progress, str(node_id), now)
        return bool(data.get("nodes"))
    if kind == "executing":
        node_id = data.get("node")
        if task.get("status") not in (FAILED, CANCELLED):  # the node that failed or was stopped did not finish
            _finish_node(progress, task.get("node"), now)
        if node_id is None:
            task["node"] = None
            _set_status(progress, SUCCEEDED, now)
        else:
            _set_status(progress, RUNNING, now)
            task["node"] = str(node_id)
            _start_node(progress, str(node_id), now)
        return True
    if kind == "progress":
        node_id = data.get("node") or task.get("node")
        if node_id is None:
            return False
        entry = _node(progress, node_id)
        entry["value"], entry["max"] = data.get("value", 0), data.get("max", 0)
        entry["start"] = entry["start"] or now
        _touch(progress, entry, now)
        return True
    if kind == "progress_state":
        changed = False
        for node_id, state in (data.get("nodes") or {}).items():
            entry = _node(progress, node_id)
            value, maximum = _number(state.get("value", 0)), _number(state.get("max", 0))
            if state.get("state") == "finished":
                value = maximum = max(maximum, 1)
            if (entry["value"], entry["max"]) != (value, maximum) and value >= 0:
                entry["value"], entry["max"] = value, maximum
                entry["start"] = entry["start"] or now
                _touch(progress, entry, now)
                changed = True
        return changed
    if kind == "executed":
        node_id = str(data.get("node"))
        files = output_files(data.get("output"))
        entry = _node(progress, node_id)
        if files:
            entry["images"] = files
        _finish_node(progress, node_id, now)
        return True
    if kind == "execution_success":
        _finish_node(progress, task.get("node"), now)
        task["node"] = None
        _set_status(progress, SUCCEEDED, now)
        return True
    if kind == "execution_error":
        task["error"] = _error_from_message("execution_error", data)
        task["node"] = None
        _set_status(progress, FAILED, now)
        return True
    if kind == "execution_interrupted":
        task["error"] = _error_from_message("execution_interrupted", data)
        task["node"] = None
        _set_status(progress, CANCELLED, now)
        return True
    return False


def _number(value: Any) -> int | float:
    """ComfyUI's progress_state sends floats (1.0); keep the seed's integers where they are whole."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int | float) else 0


OUTPUT_FILE_KEYS = ("images", "gifs", "videos", "audio")  # SaveImage/PreviewImage, animated and video savers


def output_files(output: object) -> list[dict]:
    """Every file an output node reported (images, animations, videos), as `{filename, subfolder, type}`."""
    if not isinstance(output, dict):
        return []
    files = []
    for key in OUTPUT_FILE_KEYS:
        for item in output.get(key) or []:
            if isinstance(item, dict) and item.get("filename"):
                files.append(_image_ref(item))
    return files


def _image_ref(image: dict) -> dict:
    return {"filename": image.get("filename", ""), "subfolder": image.get("subfolder", ""),
            "type": image.get("type", "output")}  # fmt: skip


def fold_history(progress: dict, entry: dict, now: int | None = None) -> None:
    """Complete `progress` from a `/history/{id}` entry: the authority once a prompt has finished.

    Used when the WebSocket missed the end of a run (finished before we attached, or the
    socket dropped): its `status.messages` replay the run's milestones, `outputs` the images.
    """
    now = int(now if now is not None else time.time())
    status = entry.get("status") or {}
    for kind, data in status.get("messages") or []:
        fold_message(progress, {"type": kind, "data": data}, now)
    for node_id, output in (entry.get("outputs") or {}).items():
        files = output_files(output)
        if files:
            _node(progress, node_id)["images"] = files
        _finish_node(progress, str(node_id), now)
    if status.get("completed") or status.get("status_str") == "success":
        _set_status(progress, SUCCEEDED, now)
    elif status.get("status_str") == "error":
        _set_status(progress, FAILED, now)
        progress[""].setdefault("error", None)
        if not progress[""]["error"]:
            progress[""]["error"] = {"type": "execution_error", "message": "ComfyUI reported an error"}
    progress[""]["node"] = None


def node_weight(node: dict) -> int:
    """How much of the run a node is: its sampling `steps` when it has them, else 1.

    Taken from the prompt, not from progress, so the total never grows mid-run (no bar going back).
    """
    steps = (node.get("inputs") or {}).get("steps") if isinstance(node, dict) else None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else 1


def overall_fraction(progress: dict, prompt: dict | None = None) -> float:
    """Share of the workflow done: finished nodes plus the running node's fraction, weighted by steps."""
    if task_status(progress) == SUCCEEDED:
        return 1.0
    weights = {str(node_id): node_weight(node) for node_id, node in (prompt or {}).items()}
    if not weights:
        weights = {key: 1 for key in progress if key}
    total = sum(weights.values())
    if not total:
        return 0.0
    done = 0.0
    for node_id, weight in weights.items():
        entry = progress.get(node_id) or {}
        maximum = entry.get("max") or 0
        if maximum > 0:
            done += weight * min(max(entry.get("value", 0) / maximum, 0.0), 1.0)
    return done / total


def node_title(prompt: dict | None, node_id: str) -> str:
    node = (prompt or {}).get(str(node_id)) or {}
    return (node.get("_meta") or {}).get("title") or node.get("class_type") or str(node_id)


def current_node(progress: dict | None, prompt: dict | None = None) -> dict | None:
    """The node running now as `{"node", "title", "class_type", "value", "max"}`, or None."""
    node_id = ((progress or {}).get("") or {}).get("node")
    if not node_id:
        return None
    entry = (progress or {}).get(node_id) or {}
    node = (prompt or {}).get(node_id) or {}
    return {"node": node_id, "title": node_title(prompt, node_id), "class_type": node.get("class_type", ""),
            "value": entry.get("value", 0), "max": entry.get("max", 0)}  # fmt: skip


def output_images(progress: dict, image_types: tuple[str, ...] = ("output",)) -> list[dict]:
    """Output image refs, in node order: `[{"node", "filename", "subfolder", "type"}]`.

    Only saved outputs by default: `PreviewImage` writes `temp` files that are not results.
    """
    refs = []
    for node_id, entry in progress.items():
        if node_id and entry.get("images"):
            refs.extend({"node": node_id, **image} for image in entry["images"] if image.get("type") in image_types)
    return refs
