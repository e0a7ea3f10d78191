"""Readiness: can this web process serve a page now? The database and, when configured, Redis must answer.

Liveness (`/healthz`) asks only that the process answers, so a database outage takes the web processes out
of the load balancer (`/readyz` answers 503) without the orchestrator restarting every one of them.
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings
from django.db import DatabaseError, connection

REDIS_TIMEOUT = 2.0  # seconds: a probe gives up well before the orchestrator's own timeout
DATABASE_TIMEOUT = 2  # seconds to connect, for a process with a connection pool


def database_problem() -> str | None:
    """Why the default database does not answer `SELECT 1`; None when it does."""
    if getattr(connection, "pool", None) is not None:
        return _unpooled_problem()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return str(exc).strip()[:200] or type(exc).__name__
    return None


def _unpooled_problem() -> str | None:
    """With a connection pool, a connection of its own: the pool would wait DATABASE_POOL_TIMEOUT for a
    connection it cannot make, then say only that, where the probe wants the database's own answer now."""
    import psycopg

    params = {**connection.get_connection_params(), "connect_timeout": DATABASE_TIMEOUT}
    try:
        with psycopg.connect(**params) as direct:
            direct.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()[:200] or type(exc).__name__
    return None


@cache
def _redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per process and URL: probes come every few seconds."""
    return redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)


def redis_problem() -> str | None:
    """Why Redis (the channel layer and cache, REDIS_URL) does not answer PING; None when it does."""
    try:
        _redis_client(settings.REDIS_URL).ping()
    except (redis.RedisError, OSError) as exc:
        return str(exc).strip()[:200] or type(exc).__name__
    return None


def readiness() -> tuple[bool, dict[str, str]]:
    """(ready, {part: "ok" or what is wrong}) for every part this process depends on."""
    checks = {"database": database_problem() or "ok"}
    if settings.REDIS_URL:
        checks["redis"] = redis_problem() or "ok"
    return all(value == "ok" for value in checks.values()), checks
