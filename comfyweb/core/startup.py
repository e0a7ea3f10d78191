"""Refusals that must happen when a process starts, not only when someone runs the system checks.

An ASGI server loading `comfyweb.asgi` by itself runs no system checks, so it calls `refuse_unsafe_start()` before it
builds the application; management commands that run the checks (`web`, `serve`, `runjobs`) get the same
refusal from `comfyweb.core.checks` (comfyweb.E001, comfyweb.E002), with the same words.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from comfyweb.core.media_bucket import bucket_problem

DEV_KEY_MESSAGE = "SECRET_KEY is the development key while DEBUG is off."
DEV_KEY_HINT = "Set the SECRET_KEY environment variable to a long random value."


def uses_development_key_in_production() -> bool:
    """DEBUG off with the development key, outside the loopback demo (EMBEDDED_DEV, `make run`, tests)."""
    return not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY and not settings.EMBEDDED_DEV


def refuse_unsafe_start() -> None:
    """Raise ImproperlyConfigured when this process would serve with the development secret key, or with S3
    media whose bucket is missing or whose credentials are refused (comfyweb.E002)."""
    if uses_development_key_in_production():
        raise ImproperlyConfigured(f"{DEV_KEY_MESSAGE} {DEV_KEY_HINT}")
    problem = bucket_problem()
    if problem:
        raise ImproperlyConfigured(" ".join(problem))
