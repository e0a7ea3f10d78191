"""Writing a visitor's values into a template's prompt: a pure function, easy to test.

Only the inputs the panels name change; numbers stay numbers; every `seed`/`noise_seed` of -1
becomes a random seed below 2**53 (exact in JavaScript) and is returned for the record.
Pictures become what a GPU backend can load: by default a data URL (every agent, ours and
fc-comfyui's, accepts one); with CATALOG_IMAGE_INPUT = "url" a URL on this site the agent fetches.
"""

from __future__ import annotations

import base64
import copy
import mimetypes
import random
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.contrib.staticfiles import finders

from comfyweb.catalog.forms import UploadedImage
from comfyweb.catalog.params import field_name, iter_panels
from comfyweb.comfy.prompt import randomize_seeds

IMAGE_INPUTS = {"LoadImage": "image", "LoadImageMask": "image"}

ImageToInput = Callable[[object], str]
StoreImage = Callable[[UploadedImage], str]


def data_url(image: UploadedImage) -> str:
    """An uploaded image as a data URL, which every agent (ours and fc-comfyui's) accepts."""
    encoded = base64.b64encode(image.data).decode("ascii")
    return f"data:{image.info.content_type};base64,{encoded}"


def site_image_path(value: str) -> str | None:
    """The file behind a site-relative static URL (a gallery option, a shipped mask), or None."""
    if not value.startswith(settings.STATIC_URL):
        return None
    return finders.find(value[len(settings.STATIC_URL) :])


def site_image_to_data_url(value: str) -> str | None:
    """A static image of this site as a data URL: a GPU backend cannot resolve our relative paths."""
    found = site_image_path(value)
    if not found:
        return None
    with open(found, "rb") as handle:
        payload = base64.b64encode(handle.read()).decode("ascii")
    content_type = mimetypes.guess_type(found)[0] or "image/png"
    return f"data:{content_type};base64,{payload}"


def image_to_data_url(value: object) -> str:
    """Uploads and site images inline as data URLs; URLs and ComfyUI file names unchanged."""
    if isinstance(value, UploadedImage):
        return data_url(value)
    text = str(value)
    return site_image_to_data_url(text) or text


def image_to_public_url(value: object, *, base_url: str, store: StoreImage | None) -> str:
    """Uploads (stored by `store`, which returns a site path) and site images as absolute URLs."""
    if isinstance(value, UploadedImage):
        if store is None:
            return data_url(value)
        value = store(value)
    text = str(value)
    if text.startswith("/") and not text.startswith("//"):
        return base_url.rstrip("/") + text
    return text


def image_input_from_settings(store: StoreImage | None = None) -> ImageToInput:
    """The converter CATALOG_IMAGE_INPUT selects ("data_url", the default, or "url" + CATALOG_PUBLIC_URL)."""
    base_url = settings.CATALOG_PUBLIC_URL
    if settings.CATALOG_IMAGE_INPUT == "url" and base_url:
        return partial(image_to_public_url, base_url=base_url, store=store)
    return image_to_data_url


default_image_to_input = image_to_data_url


def _typed(value: object, previous: object, kind: str) -> object:
    """Keep the prompt's JSON type: an int input stays an int when the value is whole."""
    if kind == "number" and isinstance(value, float) and isinstance(previous, int) and value.is_integer():
        return int(value)
    return value


def substitute(
    prompt: dict,
    params: list,
    values: dict,
    *,
    image_to_input: ImageToInput = default_image_to_input,
    rng: random.Random | None = None,
) -> tuple[dict, dict[str, int]]:
    """Return (a new prompt with the values written in, the seeds chosen); the arguments are untouched.

    `values` maps field_name(panel) → cleaned value; a missing or None value keeps the prompt's
    own, and hidden panels always do. Image inputs that hold a path of this site (a gallery
    option or a default such as a shipped mask) go through `image_to_input` too, because a GPU
    backend cannot resolve them.
    """
    result = copy.deepcopy(prompt)
    written: set[tuple[str, str]] = set()
    for panel in iter_panels(params):
        name = field_name(panel)
        if panel.get("hidden") or name not in values:
            continue
        value = values[name]
        kind = panel.get("type")
        if value is None or (value == "" and kind == "image"):
            continue
        node_id, key = str(panel["id"]), panel["key"]
        inputs = result[node_id]["inputs"]
        if kind == "image":
            value = image_to_input(value)
            written.add((node_id, key))
        inputs[key] = _typed(value, inputs.get(key), kind)
    for node_id, node in result.items():
        key = IMAGE_INPUTS.get(node.get("class_type")) if isinstance(node, dict) else None
        value = node.get("inputs", {}).get(key) if key else None
        if isinstance(value, str) and (node_id, key) not in written and value.startswith(settings.STATIC_URL):
            node["inputs"][key] = image_to_input(value)
    seeds = randomize_seeds(result, rng=rng)
    return result, seeds
