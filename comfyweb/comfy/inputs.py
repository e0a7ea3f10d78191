"""Turning image inputs given as URLs, data URLs or base64 into files ComfyUI has.

ComfyUI's LoadImage only reads files from its input folder. Callers (the fc-comfyui front end,
our web app) send pictures inline or by URL; this module fetches or decodes them, checks they
are real images within limits, uploads each distinct picture once under its content hash, and
writes that name back into the prompt. A plain file name is left alone: it is already ComfyUI's.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from comfyweb.comfy.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageInfo, ImageRejected, inspect_image
from comfyweb.core.fetch import DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_REDIRECTS, FetchError, FetchPolicy, fetch_url

DEFAULT_IMAGE_INPUTS = frozenset({("LoadImage", "image"), ("LoadImageMask", "image")})
DATA_URL_HEADER = re.compile(r"^data:(?P<type>[\w/+.-]*)(;[\w=.-]+)*;base64$")
BARE_BASE64 = re.compile(r"^[A-Za-z0-9+/\s]+={0,2}$")
MIN_BASE64_LENGTH = 64  # shorter strings are file names such as "a.png", never pictures


class InputError(ValueError):
    """An input image could not be used; the message says which node and why."""


@dataclass(frozen=True)
class InputPolicy:
    """Limits for fetched and decoded images, and the (class_type, input) pairs that hold images."""

    image_inputs: frozenset[tuple[str, str]] = DEFAULT_IMAGE_INPUTS
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    fetch_timeout: float = DEFAULT_FETCH_TIMEOUT
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    allow_hosts: frozenset[str] = field(default_factory=frozenset)
    egress_proxy: str | None = None

    @property
    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(
            max_bytes=self.max_bytes,
            timeout=self.fetch_timeout,
            max_redirects=self.max_redirects,
            allow_hosts=self.allow_hosts,
            proxy=self.egress_proxy,
        )


def classify_image_value(value: str) -> str:
    """'url', 'data_url', 'base64' or 'name' (a file ComfyUI already has)."""
    if value.startswith(("http://", "https://")):
        return "url"
    if value.startswith("data:"):
        return "data_url"
    compact = value.strip()
    if len(compact) >= MIN_BASE64_LENGTH and BARE_BASE64.match(compact) and "." not in compact[-5:]:
        return "base64"
    return "name"


def data_url_type(value: str) -> str | None:
    """The media type a base64 data URL names ('' for none); None when `value` is not such a URL."""
    comma = value.find(",")
    match = DATA_URL_HEADER.match(value[:comma]) if comma > 0 else None
    return match.group("type") if match else None


def decode_base64_image(value: str) -> bytes:
    """The bytes of a data URL or bare base64; strict (no stray characters) without a regex pass."""
    payload = value
    if value.startswith("data:"):
        if data_url_type(value) is None:
            raise InputError("a data URL must be base64-encoded: data:<type>;base64,<data>")
        payload = value[value.find(",") + 1 :]
    try:
        return binascii.a2b_base64("".join(payload.split()).encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("the image is not valid base64") from exc


async def image_bytes_for(value: str, policy: InputPolicy) -> bytes | None:
    kind = classify_image_value(value)
    if kind == "name":
        return None
    if kind == "url":
        try:
            return await fetch_url(value, policy.fetch_policy)
        except FetchError as exc:
            raise InputError(f"image {exc}") from exc
    # In a thread: a 20 MB picture's base64 takes tens of milliseconds, every other run's stream would wait.
    return await asyncio.to_thread(decode_base64_image, value)


FetchObserver = Callable[[str, int, float], None]
UploadClaim = Callable[[str], None]
UPLOAD_PREFIX = "cw_"
UPLOAD_NAME = re.compile(r"\Acw_[0-9a-f]{32}\.[a-z0-9]{2,5}\Z")  # what upload_name() makes, nothing else


def upload_name(digest: str, extension: str) -> str:
    """The name an input picture is uploaded under: its content hash (so two tasks share one file)."""
    return f"{UPLOAD_PREFIX}{digest[:32]}.{extension}"


def image_values(prompt: dict, policy: InputPolicy) -> list[tuple[str, str, str]]:
    """(node id, input key, value) of every non-empty string image input of `prompt`."""
    found = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        for class_type, key in policy.image_inputs:
            value = node.get("inputs", {}).get(key) if node.get("class_type") == class_type else None
            if isinstance(value, str) and value:
                found.append((str(node_id), key, value))
    return found


def has_url_inputs(prompt: dict, policy: InputPolicy) -> bool:
    """Whether materialising `prompt` downloads anything."""
    return any(classify_image_value(value) == "url" for _, _, value in image_values(prompt, policy))


def checked_image(data: bytes, policy: InputPolicy) -> tuple[ImageInfo, str]:
    """The picture's checked header and decode (ImageRejected if refused), and its content hash. Run in a
    thread: decoding a large picture on the event loop would stall every other run and request meanwhile."""
    info = inspect_image(data, max_bytes=policy.max_bytes, max_pixels=policy.max_pixels)
    return info, hashlib.sha256(data).hexdigest()


async def materialize_image_inputs(
    prompt: dict,
    comfy,
    policy: InputPolicy | None = None,
    on_fetch: FetchObserver | None = None,
    on_upload: UploadClaim | None = None,
) -> dict[str, str]:
    """Upload every inline/URL image of `prompt` to ComfyUI (once per content) and rewrite it in place.

    Returns {"<node>.<input>": uploaded name}. Raises InputError naming the node on bad input.
    `on_fetch(source, size, seconds)` hears of each image fetched ("url") or decoded ("base64");
    `on_upload(name)` hears of each file name *before* it is uploaded (and again if ComfyUI picked another
    name), so that a cleaner never deletes a file a task is about to use.
    """
    policy = policy or InputPolicy()
    uploaded: dict[str, str] = {}
    by_digest: dict[str, str] = {}
    for node_id, key, value in image_values(prompt, policy):
        node = prompt[node_id]
        class_type = node.get("class_type")
        try:
            started = time.monotonic()
            data = await image_bytes_for(value, policy)
            if data is None:
                continue
            if on_fetch is not None:
                source = "url" if classify_image_value(value) == "url" else "base64"
                on_fetch(source, len(data), time.monotonic() - started)
            info, digest = await asyncio.to_thread(checked_image, data, policy)
        except (InputError, ImageRejected) as exc:
            raise InputError(f"node {node_id} ({class_type}.{key}): {exc}") from exc
        if digest not in by_digest:
            name = upload_name(digest, info.extension)
            if on_upload is not None:
                on_upload(name)
            answer = await comfy.upload_image(data, name, overwrite=True)
            by_digest[digest] = f"{answer['subfolder']}/{answer['name']}" if answer.get("subfolder") else answer["name"]
            if on_upload is not None and by_digest[digest] != name:
                on_upload(by_digest[digest])
        node["inputs"][key] = by_digest[digest]
        uploaded[f"{node_id}.{key}"] = by_digest[digest]
    return uploaded
