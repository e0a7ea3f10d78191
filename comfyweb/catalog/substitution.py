"""Writing a visitor's values into a template's prompt: a pure function, easy to test.

Only the inputs the panels name change; numbers stay numbers; every `seed`/`noise_seed` of -1
becomes a random seed below 2**53 (exact in JavaScript) and is returned for the record.
"""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Callable

from comfyweb.catalog.forms import UploadedImage
from comfyweb.catalog.params import iter_panels

SEED_KEYS = ("seed", "noise_seed")
MAX_SEED = 2**53 - 1

ImageToInput = Callable[[object], str]


def data_url(image: UploadedImage) -> str:
    """An uploaded image as a data URL, which every agent (ours and fc-comfyui's) accepts."""
    encoded = base64.b64encode(image.data).decode("ascii")
    return f"data:{image.info.content_type};base64,{encoded}"


def default_image_to_input(value: object) -> str:
    if isinstance(value, UploadedImage):
        return data_url(value)
    return str(value)


def randomize_seeds(prompt: dict, *, rng: random.Random | None = None) -> dict[str, int]:
    """Replace every seed input equal to -1 in place; return {"<node>.<key>": seed}."""
    rng = rng or random.SystemRandom()
    used: dict[str, int] = {}
    for node_id, node in prompt.items():
        inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
        for key in SEED_KEYS:
            if inputs.get(key) == -1 and not isinstance(inputs.get(key), bool):
                inputs[key] = rng.randint(0, MAX_SEED)
                used[f"{node_id}.{key}"] = inputs[key]
    return used


def substitute(
    prompt: dict,
    params: list,
    values: dict,
    *,
    image_to_input: ImageToInput = default_image_to_input,
    rng: random.Random | None = None,
) -> tuple[dict, dict[str, int]]:
    """Return (a new prompt with the values written in, the seeds chosen); inputs are untouched."""
    result = copy.deepcopy(prompt)
    for panel in iter_panels(params):
        name = f"{panel.get('id')}.{panel.get('key')}"
        if panel.get("hidden") or name not in values:
            continue
        value = values[name]
        if value is None or (value == "" and panel.get("type") == "image"):
            continue
        inputs = result[str(panel["id"])]["inputs"]
        if panel.get("type") == "image":
            value = image_to_input(value)
        elif panel.get("type") == "number":
            value = int(value) if isinstance(inputs.get(panel["key"]), int) and float(value).is_integer() else value
        inputs[panel["key"]] = value
    seeds = randomize_seeds(result, rng=rng)
    return result, seeds
