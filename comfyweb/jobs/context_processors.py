"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest

from comfyweb.jobs.backends import any_emulated_backend


def backend_info(request: HttpRequest) -> dict:
    """Tell every page whether the ComfyUI emulator stands in for a real GPU backend.

    Either nothing is configured (the embedded emulator), or a backend said it is the emulator
    (an agent in front of it, or COMFYUI_URL pointing at `manage.py emulator`).
    """
    if not settings.COMFYUI_URL and not settings.GPU_BACKENDS:
        return {"using_emulator": True}
    try:
        return {"using_emulator": any_emulated_backend()}
    except DatabaseError:
        return {"using_emulator": False}
