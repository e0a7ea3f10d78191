"""Template helpers for the base layout and the pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template
from django.templatetags.static import static

register = template.Library()

SAFE_IMAGE_SCHEMES = frozenset({"http", "https"})


@register.filter
def image_src(value: str) -> str:
    """Operators give images as URLs, absolute paths or paths under static/: turn each into a usable src.

    Operator text is data: only http(s) URLs, paths on this site and inline raster `data:image/…` pass;
    anything else (`javascript:`, `data:text/html`, SVG data, other schemes) gives no image at all.
    """
    value = (value or "").strip()
    if not value or any(ord(c) < 32 for c in value):
        return ""
    lowered = value.lower()
    if lowered.startswith("data:"):
        return value if lowered.startswith(("data:image/png", "data:image/jpeg", "data:image/webp")) else ""
    if value.startswith("//"):
        return ""  # a scheme-relative URL: another host, with whatever scheme the page has
    if value.startswith("/"):
        return value
    if "://" in value or ":" in value.split("/", 1)[0]:
        return value if urlsplit(value).scheme.lower() in SAFE_IMAGE_SCHEMES else ""
    return static(value)
