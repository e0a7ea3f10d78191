"""Sampler previews (the picture forming) made small enough to send to a browser several times a second."""

from __future__ import annotations

import base64
import io

from PIL import Image, UnidentifiedImageError

PREVIEW_MAX_SIDE = 256
PREVIEW_MAX_PIXELS = 4096 * 4096  # a preview larger than this is not a preview: refused before decoding
PREVIEW_QUALITY = 70


def preview_data_url(image: bytes, max_side: int = PREVIEW_MAX_SIDE) -> str | None:
    """A JPEG data URL of `image` (ComfyUI's JPEG/PNG preview) at most `max_side` pixels wide and high.

    None for anything that is not a small picture (previews are best effort: a bad one is skipped).
    """
    try:
        with Image.open(io.BytesIO(image), formats=("JPEG", "PNG", "WEBP")) as picture:
            width, height = picture.size
            if width * height > PREVIEW_MAX_PIXELS:
                return None
            picture.draft("RGB", (max_side, max_side))  # JPEG: decode at a fraction of the size
            small = picture.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    small.thumbnail((max_side, max_side))
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=PREVIEW_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")
