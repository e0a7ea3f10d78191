"""Reading whatever ComfyUI saves: an API prompt, a UI workflow, or a PNG / WebP picture with them inside.

* "Save (API)" → `{"<node id>": {"class_type", "inputs"}}`, used as it is;
* "Save" → a UI workflow (`nodes`, `links`, subgraphs…), converted with the backend's `/object_info`
  (comfy.workflow, equal to what ComfyUI's page queues);
* a PNG ComfyUI wrote → its `prompt` and `workflow` text chunks; a WebP → the same two texts in its EXIF
  (`prompt:{…}` in the Model tag, `workflow:{…}` in the Make tag, as SaveAnimatedWEBP writes them).

Pictures are read chunk by chunk: their pixels are never decoded.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass, field

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from comfyweb.comfy.workflow import (
    GroupInfo,
    MissingNode,
    WorkflowConversionError,
    convert_workflow,
    is_api_prompt,
    is_ui_workflow,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_BYTES = 64 * 2**20  # a workflow is text; a larger chunk is not one of ComfyUI's
EXIF_MODEL, EXIF_MAKE = 0x0110, 0x010F


class ComfyUIFileError(ValueError):
    """The file is not something ComfyUI saved, or cannot be used; the message says why."""


@dataclass
class ComfyUIExport:
    """A ComfyUI export, read: the API prompt to run and what came with it."""

    prompt: dict
    source: str  # "api", "workflow", "png", "webp"
    workflow: dict | None = None
    groups: list[GroupInfo] = field(default_factory=list)
    missing: list[MissingNode] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def is_comfyui_export(data: object) -> bool:
    """An API prompt (bare or as {"prompt": …}) or a UI workflow, rather than a list of templates."""
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "title" not in data:
        data = data["prompt"]
    return is_ui_workflow(data) or is_api_prompt(data)


def read_export(data: object, object_info: dict | None, *, source: str = "") -> ComfyUIExport:
    """An export already parsed from JSON: an API prompt, {"prompt": …, "workflow": …} or a UI workflow."""
    workflow = None
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and not is_api_prompt(data):
        workflow = data.get("workflow") if is_ui_workflow(data.get("workflow")) else None
        data = data["prompt"]
    if is_api_prompt(data):
        export = ComfyUIExport(prompt={str(k): v for k, v in data.items()}, source=source or "api", workflow=workflow)
        if workflow is not None and object_info is not None:
            _add_groups(export, workflow, object_info)
        return export
    if is_ui_workflow(data):
        if object_info is None:
            raise ComfyUIFileError("a UI workflow needs a backend's /object_info to be converted.")
        try:
            conversion = convert_workflow(data, object_info)
        except WorkflowConversionError as exc:
            raise ComfyUIFileError(f"the workflow cannot be converted: {exc}") from exc
        return ComfyUIExport(
            prompt=conversion.prompt,
            source=source or "workflow",
            workflow=data,
            groups=conversion.groups,
            missing=conversion.missing,
            warnings=conversion.warnings,
        )
    raise ComfyUIFileError(
        "this is neither a ComfyUI workflow (Save) nor an API-format prompt (Save (API)), nor a list of templates."
    )


def _add_groups(export: ComfyUIExport, workflow: dict, object_info: dict) -> None:
    """Groups (and missing nodes) from the workflow that came with an API prompt; the prompt stays."""
    try:
        conversion = convert_workflow(workflow, object_info)
    except WorkflowConversionError as exc:
        export.warnings.append(f"the embedded workflow could not be read for its groups: {exc}")
        return
    export.groups = [
        GroupInfo(g.title, [i for i in g.node_ids if i in export.prompt], g.bounding) for g in conversion.groups
    ]
    export.missing = conversion.missing


def read_file(content: bytes, object_info: dict | None, *, filename: str = "") -> ComfyUIExport:
    """A file ComfyUI saved: JSON (prompt or workflow), PNG or WebP with the workflow inside."""
    if content.startswith(PNG_SIGNATURE):
        texts = png_texts(content)
        return _from_texts(texts, object_info, "png", filename)
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        texts = webp_texts(content)
        return _from_texts(texts, object_info, "webp", filename)
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ComfyUIFileError(f"{filename or 'the file'} is neither JSON nor a PNG/WebP picture: {exc}") from exc
    return read_export(data, object_info)


def _from_texts(texts: dict[str, str], object_info: dict | None, kind: str, filename: str) -> ComfyUIExport:
    name = filename or f"the {kind.upper()} picture"
    parsed = {}
    for key in ("prompt", "workflow"):
        if key in texts:
            try:
                parsed[key] = json.loads(texts[key])
            except json.JSONDecodeError as exc:
                raise ComfyUIFileError(f"{name}: its {key} text is not valid JSON: {exc}") from exc
    if not parsed:
        raise ComfyUIFileError(
            f"{name} holds no ComfyUI workflow (no prompt or workflow text): "
            "save it with ComfyUI's Save Image node, which embeds them."
        )
    if is_api_prompt(parsed.get("prompt")):
        return read_export({"prompt": parsed["prompt"], "workflow": parsed.get("workflow")}, object_info, source=kind)
    return read_export(parsed.get("workflow"), object_info, source=kind)


def png_texts(content: bytes) -> dict[str, str]:
    """The tEXt, zTXt and iTXt chunks of a PNG, by keyword (the first of each keyword wins)."""
    texts: dict[str, str] = {}
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(content):
        length, kind = struct.unpack(">I4s", content[offset : offset + 8])
        body = content[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if len(body) != length:
            break
        if kind == b"IEND":
            break
        if kind not in (b"tEXt", b"zTXt", b"iTXt") or length > MAX_TEXT_BYTES:
            continue
        keyword, _, rest = body.partition(b"\x00")
        try:
            text = _png_text(kind, rest)
        except (zlib.error, UnicodeDecodeError, ValueError):
            continue
        texts.setdefault(keyword.decode("latin-1"), text)
    return texts


def _png_text(kind: bytes, rest: bytes) -> str:
    if kind == b"tEXt":
        return rest.decode("latin-1")
    if kind == b"zTXt":
        return _inflate(rest[1:]).decode("latin-1")
    compressed, _method = rest[0], rest[1]
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    return (_inflate(text) if compressed else text).decode("utf-8")


def _inflate(data: bytes) -> bytes:
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, MAX_TEXT_BYTES)
    if decompressor.unconsumed_tail:
        raise ValueError("text chunk too large")
    return out


def webp_texts(content: bytes) -> dict[str, str]:
    """ "key:value" texts of a WebP's EXIF chunk (ComfyUI writes prompt:… and workflow:…)."""
    offset = 12
    texts: dict[str, str] = {}
    while offset + 8 <= len(content):
        kind, length = struct.unpack("<4sI", content[offset : offset + 8])
        body = content[offset + 8 : offset + 8 + length]
        offset += 8 + length + (length & 1)
        if kind != b"EXIF":
            continue
        if body.startswith(b"Exif\x00\x00"):
            body = body[6:]
        exif = Image.Exif()
        try:
            exif.load(body)
        except Exception:  # Pillow raises many kinds for a damaged EXIF block
            return texts
        for tag in sorted(exif, key=lambda t: (t not in (EXIF_MODEL, EXIF_MAKE), -t)):
            value = exif[tag]
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and ":" in value:
                key, _, text = value.partition(":")
                texts.setdefault(key.strip("\x00 "), text.rstrip("\x00"))
        break
    return texts


def embed_in_png(image: Image.Image, prompt: dict | None, workflow: dict | None) -> bytes:
    """A PNG with ComfyUI's two text chunks, as its Save Image node writes them (for tests and fixtures)."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    if workflow is not None:
        info.add_text("workflow", json.dumps(workflow))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def embed_in_webp(image: Image.Image, prompt: dict | None, workflow: dict | None) -> bytes:
    """A WebP with ComfyUI's EXIF texts, as its SaveAnimatedWEBP node writes them."""
    exif = image.getexif()
    if prompt is not None:
        exif[EXIF_MODEL] = "prompt:" + json.dumps(prompt)
    if workflow is not None:
        exif[EXIF_MAKE] = "workflow:" + json.dumps(workflow)
    out = io.BytesIO()
    image.save(out, format="WEBP", exif=exif, lossless=True)
    return out.getvalue()
