"""The visible AI-generated label drawn on each output with Pillow: a text on a dark plate, or the operator's badge.

Chinese text needs a font with CJK glyphs: settings.LABEL_FONT (Debian's fonts-wqy-microhei by default,
which `make browser` and the web image install). Without that file the label falls back to Pillow's
own font, which has Latin glyphs only; the system check comfyweb.W201 says so.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont

from comfyweb.jobs.trust.policy import LabelSpec

logger = logging.getLogger(__name__)

MIN_HEIGHT = 12  # px: a label smaller than this cannot be read


@functools.lru_cache(maxsize=32)
def label_font(path: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The label's font at `size` px: LABEL_FONT, else Pillow's built-in one."""
    if path and Path(path).is_file():
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def font_has_cjk(path: str) -> bool:
    return bool(path) and Path(path).is_file()


@functools.lru_cache(maxsize=8)
def load_badge(name: str) -> Image.Image | None:
    """The operator's badge image from storage (cached per storage name: a new upload gets a new name)."""
    if not name:
        return None
    try:
        with default_storage.open(name, "rb") as handle, Image.open(handle) as badge:
            badge.load()
            return badge.convert("RGBA")
    except (OSError, ValueError):
        logger.warning("the label badge %s cannot be read; the text label is drawn instead", name)
        return None


def text_mark(text: str, height: int) -> Image.Image:
    """White text on a translucent dark plate, `height` px tall."""
    font = label_font(settings.LABEL_FONT, max(8, round(height * 0.7)))
    left, top, right, bottom = font.getbbox(text)
    pad = max(2, height // 6)
    width = (right - left) + 2 * pad
    mark = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(mark)
    draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=max(2, height // 5), fill=(0, 0, 0, 150))
    draw.text((pad - left, (height - (bottom - top)) / 2 - top), text, font=font, fill=(255, 255, 255, 235))
    return mark


def badge_mark(badge: Image.Image, height: int, max_width: int) -> Image.Image:
    scale = height / badge.height
    width = min(max_width, max(1, round(badge.width * scale)))
    return badge.resize((width, max(1, round(badge.height * width / badge.width))), Image.Resampling.LANCZOS)


def draw_label(image: Image.Image, spec: LabelSpec) -> Image.Image:
    """`image` with the visible label drawn at the spec's corner (a new image; RGB or RGBA like the input)."""
    if not spec.visible or not (spec.text or spec.badge):
        return image
    width, height = image.size
    label_height = max(MIN_HEIGHT, round(min(width, height) * spec.size_percent / 100))
    if label_height * 2 > height:
        return image  # a picture this small has no room for a readable label
    badge = load_badge(spec.badge)
    mark = badge_mark(badge, label_height, width // 2) if badge is not None else text_mark(spec.text, label_height)
    if mark.width > width - 4:
        mark = mark.resize((width - 4, max(1, round(mark.height * (width - 4) / mark.width))))
    margin = max(2, label_height // 3)
    x = margin if spec.position.endswith("left") else width - mark.width - margin
    y = margin if spec.position.startswith("top") else height - mark.height - margin
    canvas = image.convert("RGBA")
    canvas.alpha_composite(mark, (max(0, x), max(0, y)))
    return canvas if image.mode == "RGBA" else canvas.convert("RGB")
