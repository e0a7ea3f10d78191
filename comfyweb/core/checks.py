"""System checks that refuse unsafe production configuration loudly, at start."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from comfyweb.core.media_bucket import bucket_problem
from comfyweb.core.startup import DEV_KEY_HINT, DEV_KEY_MESSAGE, uses_development_key_in_production


@register(Tags.security, deploy=False)
def check_secret_key(app_configs, **kwargs) -> list[Error]:
    """Production (DEBUG off) must not run with the development secret key (a bare ASGI server: see core.startup)."""
    if uses_development_key_in_production():
        return [Error(DEV_KEY_MESSAGE, hint=DEV_KEY_HINT, id="comfyweb.E001")]
    return []


@register("media")
def check_media_bucket(app_configs, **kwargs) -> list[Error]:
    """With S3 media, the bucket must exist and open with the credentials given (ASGI servers: core.startup)."""
    problem = bucket_problem()
    if problem:
        message, hint = problem
        return [Error(message, hint=hint, id="comfyweb.E002")]
    return []


@register(Tags.security, deploy=False)
def check_media_serving(app_configs, **kwargs) -> list[Warning]:
    """Production media on local disk should be sent by the front server (X-Accel-Redirect)."""
    if (
        not settings.DEBUG
        and not settings.EMBEDDED_DEV
        and not settings.AWS_STORAGE_BUCKET_NAME
        and not settings.MEDIA_ACCEL_REDIRECT_PREFIX
    ):
        return [
            Warning(
                "Media files are streamed by the web process: set MEDIA_ACCEL_REDIRECT_PREFIX.",
                hint="Let nginx send them after the ownership check (docs/single-gpu-box.md), or use S3 storage.",
                id="comfyweb.W003",
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


@register(Tags.compatibility)
def check_retired_settings(app_configs, **kwargs) -> list[Warning]:
    """A variable that is no longer read must not look as if it still changed something."""
    if "JOB_ANONYMOUS_IDENTITY" in os.environ:
        return [
            Warning(
                "JOB_ANONYMOUS_IDENTITY is no longer read: visitors are counted by account or session.",
                hint="Remove it; each address has its own larger caps: JOB_MAX_QUEUED_PER_ADDRESS and "
                "JOB_ADDRESS_QUOTA_FACTOR.",
                id="comfyweb.W006",
            )
        ]
    return []
