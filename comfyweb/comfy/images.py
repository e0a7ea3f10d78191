"""Safe image inspection shared by the agent (input URLs/base64) and the web forms (uploads).

Images from strangers are checked before anything else touches them: the byte size, the
real format (not the file name), the pixel count (decompression bombs), and a full decode.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


class ImageRejected(ValueError):
    """The bytes are not an acceptable image; `code` names the reason for callers and translations."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    size: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.format, "bin")


def inspect_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] | set[str] = DEFAULT_FORMATS,
) -> ImageInfo:
    """Check that `data` is a whole, decodable image within the limits; raise ImageRejected if not."""
    if not data:
        raise ImageRejected("The file is empty.", "empty")
    if len(data) > max_bytes:
        raise ImageRejected(f"The image is {len(data)} bytes; the limit is {max_bytes}.", "too_large")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            width, height = probe.size
    except Image.DecompressionBombError as exc:  # Pillow refuses huge headers at open time
        raise ImageRejected("The image expands to too many pixels.", "too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageRejected("The file is not an image (or it is damaged).", "not_image") from exc
    if fmt not in formats:
        allowed = ", ".join(sorted(formats))
        raise ImageRejected(f"Image format {fmt or 'unknown'} is not accepted; use {allowed}.", "format")
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise ImageRejected(
            f"The image has {width}×{height} pixels; the limit is {max_pixels} pixels.", "too_many_pixels"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as full:
                full.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("The image expands to too many pixels.", "too_many_pixels") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected("The image is truncated or damaged.", "damaged") from exc
    return ImageInfo(format=fmt, width=width, height=height, size=len(data))


def normalize_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] | set[str] = DEFAULT_FORMATS,
) -> tuple[bytes, ImageInfo]:
    """Inspect, apply EXIF orientation, drop all metadata and re-encode (PNG keeps alpha, else JPEG)."""
    inspect_image(data, max_bytes=max_bytes, max_pixels=max_pixels, formats=formats)
    with Image.open(io.BytesIO(data)) as img:
        img = ImageOps.exif_transpose(img)
        has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
        out = io.BytesIO()
        if has_alpha:
            img.convert("RGBA").save(out, format="PNG", optimize=False)
            fmt = "PNG"
        else:
            img.convert("RGB").save(out, format="JPEG", quality=92)
            fmt = "JPEG"
        width, height = img.size
    encoded = out.getvalue()
    return encoded, ImageInfo(format=fmt, width=width, height=height, size=len(encoded))
