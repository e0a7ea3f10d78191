"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def backend_info(request: HttpRequest) -> dict:
    """Tell every page whether the ComfyUI emulator stands in for a real GPU backend."""
    return {"using_emulator": not settings.COMFYUI_URL and not settings.GPU_BACKENDS}
