"""A campaign's colours as a small stylesheet: pages carry no inline <style> (Content-Security-Policy)."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control

from comfyweb.campaigns.models import Campaign

HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
DEFAULT_PRIMARY = "#e4487a"
DEFAULT_ACCENT = "#6d5dfc"
THEME_MAX_AGE = 300


def safe_colour(value: str, default: str) -> str:
    """An operator's colour when it is a plain #rgb/#rrggbb value, else the default (never raw CSS)."""
    value = (value or "").strip()
    return value if HEX_COLOUR.fullmatch(value) else default


TEXT_CONTRAST = 4.6  # WCAG AA asks 4.5:1 for text; a little margin for rounding
LIGHT_BACKGROUNDS = ("#ffffff", "#faf8fc")  # cards and the page (static/css/site.css)


def _luminance(colour: str) -> float:
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable(colour: str, against: tuple[str, ...] = LIGHT_BACKGROUNDS, ratio: float = TEXT_CONTRAST) -> str:
    """`colour`, darkened just enough to be read against the light backgrounds (as text, or under white text)."""
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    rgb = [int(value[i : i + 2], 16) for i in (0, 2, 4)]
    for _step in range(50):
        candidate = "#" + "".join(f"{c:02x}" for c in rgb)
        if all(contrast(candidate, background) >= ratio for background in against):
            return candidate
        rgb = [round(c * 0.95) for c in rgb]
    return "#000000"


def campaign_theme(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug, enabled=True)
    primary = safe_colour(campaign.primary_color, DEFAULT_PRIMARY)
    accent = safe_colour(campaign.accent_color, DEFAULT_ACCENT)
    # The operator's colours decorate; their readable shades carry text (buttons, links): WCAG AA contrast.
    css = (
        f":root{{--primary:{primary};--accent:{accent};"
        f"--primary-ink:{readable(primary)};--accent-ink:{readable(accent)}}}\n"
    )
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    patch_cache_control(response, public=True, max_age=THEME_MAX_AGE)
    return response
