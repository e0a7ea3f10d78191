"""Template helpers for the base layout and the pages."""

from __future__ import annotations

from django import template
from django.templatetags.static import static

register = template.Library()


@register.filter
def image_src(value: str) -> str:
    """Operators give images as URLs, absolute paths or paths under static/: turn each into a usable src."""
    value = (value or "").strip()
    if not value or "://" in value or value.startswith(("/", "data:")):
        return value
    return static(value)
