"""PostgreSQL and Redis for the scaled-out tests, on loopback.

PostgreSQL is the machine's (`.ci/run` starts it when down); each test gets a database of its own. Redis is a
`redis-server` of the test session's own on a free port (`RedisServer`, started by `tests/conftest.py`): Redis
pub/sub channels are shared by every database number of a server, so two test runs on one server would hear
each other's job updates, and a fault test must be free to kill it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from bench.procs import free_port

POSTGRES_ADMIN_URL = os.environ.get("SCALE_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def redis_url(db: int) -> str:
    """A database of the session's own Redis (`TEST_REDIS_URL`, else the machine's); modules use different numbers."""
    return f"{os.environ.get('TEST_REDIS_URL', 'redis://127.0.0.1:6379').rstrip('/')}/{db}"


class RedisServer:
    """A `redis-server` on a free loopback port that a test owns: it may `kill()` it (-9) and `start()` it again.

    Nothing is kept on disk, like the machine's own Redis: a restart comes back empty, as after a crash.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.directory = tempfile.mkdtemp(prefix="comfyweb-redis-")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> RedisServer:
        executable = shutil.which("redis-server")
        if not executable:
            pytest.fail("redis-server is needed here (Debian package redis-server)")
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory, "--logfile", "", "--databases", "16"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """kill -9, like a crashed Redis."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


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
def clean_redis(url: str) -> Iterator[str]:
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
