"""deploy/probe.py, the images' health check, against real servers on loopback."""

from __future__ import annotations

import http.server
import runpy
import socket
import subprocess
import sys
import threading

import pytest

from tests.conftest import free_port
from tests.deploy.descriptors import DEPLOY

PROBE = DEPLOY / "probe.py"
probe = runpy.run_path(str(PROBE))["probe"]


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_GET(self) -> None:
        _Recorder.seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        status = 200 if self.path in ("/api/health", "/api/ready") else 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_agent():
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_http_2xx_is_healthy_and_anything_else_is_not(emulator_thread):
    assert probe(f"{emulator_thread.url}/system_stats")[0] is True
    healthy, detail = probe(f"{emulator_thread.url}/no-such-route")
    assert healthy is False and "404" in detail


def test_closed_port_is_unhealthy():
    port = free_port()
    assert probe(f"http://127.0.0.1:{port}/api/health")[0] is False
    assert probe(f"tcp://127.0.0.1:{port}")[0] is False


def test_tcp_target_checks_that_something_listens():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert probe(f"tcp://127.0.0.1:{listener.getsockname()[1]}") == (True, "accepting connections")


def test_bare_path_targets_the_local_agent_port_with_its_token(fake_agent, monkeypatch):
    monkeypatch.setenv("AGENT_PORT", str(fake_agent))
    monkeypatch.setenv("AGENT_TOKEN", "s3cret")
    assert probe("/api/ready")[0] is True
    assert _Recorder.seen == [{"path": "/api/ready", "authorization": "Bearer s3cret"}]


def test_no_token_header_without_agent_token(fake_agent, monkeypatch):
    monkeypatch.setenv("AGENT_PORT", str(fake_agent))
    monkeypatch.delenv("AGENT_TOKEN", raising=False)
    assert probe("/api/health")[0] is True
    assert _Recorder.seen[-1]["authorization"] is None


def test_exit_status_is_what_docker_healthcheck_reads(fake_agent):
    env = {"AGENT_PORT": str(fake_agent), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, str(PROBE), "/api/health"], env=env, capture_output=True, check=False)
    failing = subprocess.run([sys.executable, str(PROBE), "/metrics"], env=env, capture_output=True, check=False)
    unsupported = subprocess.run([sys.executable, str(PROBE), "ftp://x"], env=env, capture_output=True, check=False)
    assert (ok.returncode, failing.returncode, unsupported.returncode) == (0, 1, 1)
