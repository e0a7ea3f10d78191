"""PostgreSQL and Redis for the scaled-out tests, on loopback.

PostgreSQL is the machine's (`.ci/run` starts it when down); each test gets a database of its own. Redis is a
`redis-server` of the test session's own on a free port (`RedisServer`, started by `tests/conftest.py`): Redis
pub/sub channels are shared by every database number of a server, so two test runs on one server would hear
each other's job updates, and a fault test must be free to kill it. A test that restarts PostgreSQL runs a
cluster of its own (`PostgresCluster`): the machine's is shared and never stopped.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

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


class PostgresCluster:
    """A throwaway PostgreSQL cluster (Debian's initdb and pg_ctl) on a free loopback port, owned by one test.

    `crash()` stops it the way a crash does (`pg_ctl -m immediate`: every process quits at once, the next
    start recovers from the WAL), `start()` brings it back on the same port. As root, the server runs as
    the `postgres` system user (PostgreSQL refuses to run as root).
    """

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
        if not found:
            pytest.fail("PostgreSQL's server binaries are needed here (Debian package postgresql)")
        self.bin = found[-1].parent
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="comfyweb-pg-"))
        self.data = self.directory / "data"
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self._owner is not None:
            os.chown(self.directory, self._owner.pw_uid, self._owner.pw_gid)

    def _run(self, program: str, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin / program), *args]
        if self._owner is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")

    def init(self) -> PostgresCluster:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> PostgresCluster:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"), "-o", options, "-w",
                  "-t", "120", "start")  # fmt: skip
        return self

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def database(self, name: str) -> str:
        """A new database in this cluster; its URL."""
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
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
