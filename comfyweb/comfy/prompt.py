"""API-format prompt helpers: accept what clients send, refuse what ComfyUI could never run."""

from __future__ import annotations

import random
from typing import Any

SEED_KEYS = ("seed", "noise_seed")
MAX_SEED = 2**53 - 1  # exact in JavaScript clients


class InvalidPrompt(ValueError):
    """The body is not an API-format prompt; the message says where."""


def is_link(value: Any) -> bool:
    """An input wired to another node's output: `["node id", slot]`."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def normalize_prompt(body: Any) -> dict:
    """The prompt from a request body: a bare "Save (API)" export or `{"prompt": {...}}`.

    Checks the shape ComfyUI needs before it sees it: every node has a `class_type` and an
    `inputs` object, and every link points at a node of the prompt.
    """
    if isinstance(body, dict) and isinstance(body.get("prompt"), dict):
        body = body["prompt"]
    if not isinstance(body, dict) or not body:
        raise InvalidPrompt("the body must be a non-empty JSON object of nodes (ComfyUI's API format)")
    prompt = {}
    for node_id, node in body.items():
        if not isinstance(node, dict):
            raise InvalidPrompt(f"node {node_id}: must be an object with class_type and inputs")
        if not isinstance(node.get("class_type"), str) or not node["class_type"]:
            raise InvalidPrompt(f"node {node_id}: class_type is missing")
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            raise InvalidPrompt(f"node {node_id}: inputs must be an object")
        prompt[str(node_id)] = node
    for node_id, node in prompt.items():
        for name, value in node.get("inputs", {}).items():
            if is_link(value) and str(value[0]) not in prompt:
                raise InvalidPrompt(f"node {node_id}: input {name} links to node {value[0]}, which does not exist")
    return prompt


def randomize_seeds(prompt: dict, *, rng: random.Random | None = None) -> dict[str, int]:
    """Replace every seed input equal to -1 in place; return {"<node>.<key>": seed}."""
    rng = rng or random.SystemRandom()
    used: dict[str, int] = {}
    for node_id, node in prompt.items():
        inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
        for key in SEED_KEYS:
            value = inputs.get(key)
            if value == -1 and not isinstance(value, bool):
                inputs[key] = rng.randint(0, MAX_SEED)
                used[f"{node_id}.{key}"] = inputs[key]
    return used


def image_input_shape(prompt: dict, node_id: str) -> tuple[int, int] | None:
    """The width and height a workflow scales or crops an image input to, when a node it feeds says so.

    The first node (in id order) taking the image output of `node_id` that has integer `width` and
    `height` inputs (ImageScale, ImageCrop, …): a visitor can crop their photo to that shape before upload.
    None when no node names one.
    """
    for other_id in sorted(prompt, key=str):
        inputs = (prompt[other_id] or {}).get("inputs") or {} if isinstance(prompt[other_id], dict) else {}
        fed = any(is_link(value) and str(value[0]) == str(node_id) and value[1] == 0 for value in inputs.values())
        if not fed:
            continue
        width, height = inputs.get("width"), inputs.get("height")
        if all(isinstance(side, int) and not isinstance(side, bool) and side > 0 for side in (width, height)):
            return width, height
    return None
