"""Production refuses the development secret key when the real processes start: the web command, a bare
ASGI server loading comfyweb.asgi, and `runjobs`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from comfyweb.core.startup import DEV_KEY_MESSAGE
from tests.conftest import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60  # seconds a refused process may take to import Django and stop (a bound, not a measure)


def _production_env(tmp_path, **extra: str) -> dict:
    """The test's environment as a production host would have it: DEBUG off, no demo, no SECRET_KEY."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "EMBEDDED_DEV")}
    env.update(
        EMBEDDED_DEV="0",
        DEBUG="0",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        REDIS_URL="",
        GPU_BACKENDS="",
        COMFYUI_URL="",
    )
    env.update(extra)
    return env


SERVERS = {
    "manage.py web": lambda port: [sys.executable, "manage.py", "web", "--host", "127.0.0.1", "--port", str(port)],
    "uvicorn comfyweb.asgi": lambda port: [
        sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
        "comfyweb.asgi:application",
    ],
}  # fmt: skip


def _serve(server: str, port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        SERVERS[server](port),
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("server", SERVERS)
def test_the_web_server_refuses_to_serve_with_the_development_key(tmp_path, server):
    process = _serve(server, free_port(), _production_env(tmp_path))
    output, _ = process.communicate(timeout=STARTUP_TIMEOUT)
    assert process.returncode != 0
    assert DEV_KEY_MESSAGE in output


@pytest.mark.parametrize("server", SERVERS)
def test_the_web_server_serves_with_a_real_key(tmp_path, server):
    port = free_port()
    process = _serve(server, port, _production_env(tmp_path, SECRET_KEY="a-real-secret-" + "x" * 40))
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert answer.status == 200
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.poll() is not None else ""
                    pytest.fail(f"{server} did not come up: {output[-2000:]}")
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=STARTUP_TIMEOUT)


def test_the_loopback_demo_may_use_the_development_key(tmp_path):
    """EMBEDDED_DEV=1 (`make run`): comfyweb.asgi loads with the development key and DEBUG off."""
    env = _production_env(tmp_path, EMBEDDED_DEV="1")
    done = subprocess.run(
        [sys.executable, "-c", "import comfyweb.asgi"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_runjobs_refuses_to_start_with_the_development_key(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "runjobs"],
        cwd=BASE_DIR,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )
    assert done.returncode != 0
    assert DEV_KEY_MESSAGE in done.stderr
