"""`/healthz` is liveness (the process answers), `/readyz` readiness (the database and Redis answer).

Real daphne processes on loopback: one whose PostgreSQL is not there, one whose Redis is killed under it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import BASE_DIR, stop, wait_for_http
from tests.services import RedisServer, fresh_postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@contextlib.contextmanager
def web_process(tmp_path, **env: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "comfyweb.asgi:application"],
        cwd=BASE_DIR, env={**os.environ, "EMBEDDED_DEV": "1", **env},
        stdout=subprocess.DEVNULL, stderr=(tmp_path / f"web-{port}.log").open("w"),
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.stop()


def test_a_missing_database_makes_the_web_unready_but_alive(tmp_path, own_redis):
    nowhere = f"postgres://comfyweb@127.0.0.1:{free_port()}/comfyweb"
    with web_process(tmp_path, DATABASE_URL=nowhere, REDIS_URL=f"{own_redis.url}/0") as url:
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        ready = httpx.get(f"{url}/readyz", timeout=30)
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == "ok"
    assert (
        body["checks"]["database"] != "ok"
        and str(nowhere.rsplit(":", 1)[1].split("/")[0]) in body["checks"]["database"]
    )


def test_readiness_follows_redis_going_away_and_coming_back(tmp_path, own_redis):
    with fresh_postgres_database("comfyweb_ready") as database:
        with web_process(tmp_path, DATABASE_URL=database, REDIS_URL=f"{own_redis.url}/0") as url:
            ready = httpx.get(f"{url}/readyz", timeout=30)
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
            assert "no-cache" in ready.headers["Cache-Control"]

            own_redis.kill()
            down = httpx.get(f"{url}/readyz", timeout=30)
            assert down.status_code == 503
            assert down.json()["checks"]["database"] == "ok"
            assert down.json()["checks"]["redis"] != "ok", "the failing part is named"
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200, "alive all the same"

            own_redis.start()
            assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200


def test_without_redis_readiness_asks_only_the_database(client, db, settings):
    settings.REDIS_URL = ""
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok"}}


def test_probes_reach_readyz_by_pod_ip(client, db, settings):
    settings.ALLOWED_HOSTS = ["comfyweb.example.com"]
    settings.REDIS_URL = ""
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
