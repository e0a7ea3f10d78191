"""The local PostgreSQL and Redis the scaled-out tests use (loopback; `.ci/run` starts them when down)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

POSTGRES_ADMIN_URL = os.environ.get("SCALE_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SCALE_REDIS_URL", "redis://127.0.0.1:6379/7")


@contextlib.contextmanager
def fresh_postgres_database(prefix: str, admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new, empty database for one test (or module), dropped afterwards; its URL."""
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed here ({admin_url}): {exc}")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


@contextlib.contextmanager
def clean_redis(url: str = REDIS_URL) -> Iterator[str]:
    """A Redis database emptied before and after; its URL."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is needed here ({url}): {exc}")
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
