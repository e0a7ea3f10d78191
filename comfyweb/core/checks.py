"""System checks that refuse unsafe production configuration loudly, at start."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_secret_key(app_configs, **kwargs) -> list[Error]:
    """Production (DEBUG off) must not run with the development secret key."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY and not _is_embedded_dev():
        return [
            Error(
                "SECRET_KEY is the development key while DEBUG is off.",
                hint="Set the SECRET_KEY environment variable to a long random value.",
                id="comfyweb.E001",
            )
        ]
    return []


@register(Tags.compatibility)
def check_channel_layer(app_configs, **kwargs) -> list[Warning]:
    """The in-memory channel layer only works inside one process."""
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if not settings.DEBUG and backend.endswith("InMemoryChannelLayer") and settings.WEB_PROCESSES > 1:
        return [
            Warning(
                "WEB_PROCESSES > 1 with the in-memory channel layer: progress will not reach every browser.",
                hint="Set REDIS_URL so all processes share one channel layer.",
                id="comfyweb.W001",
            )
        ]
    return []


@register(Tags.database)
def check_sqlite_single_process(app_configs, **kwargs) -> list[Warning]:
    """SQLite is the embedded default; several processes need PostgreSQL."""
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine.endswith("sqlite3") and settings.WEB_PROCESSES > 1:
        return [
            Warning(
                "WEB_PROCESSES > 1 with SQLite: job claims need PostgreSQL's row locks.",
                hint="Set DATABASE_URL to a PostgreSQL database.",
                id="comfyweb.W002",
            )
        ]
    return []


def _is_embedded_dev() -> bool:
    """`make run` and the tests run the embedded topology on loopback with EMBEDDED_DEV=1."""
    return settings.EMBEDDED_DEV
