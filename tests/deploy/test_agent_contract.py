"""What the descriptors assume of the agent process, checked on the real `python -m comfyweb.agent`.

Kubernetes httpGet probes and Function Compute's health check cannot send a bearer token, and the
agent image sets neither SECRET_KEY nor DJANGO_SETTINGS_MODULE: the agent must start from its own
variables alone and answer its health routes openly even when AGENT_TOKEN protects the API.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import free_port
from tests.deploy.descriptors import ROOT, agent_command_present
from tests.processes import stop, wait_for_http


@pytest.fixture
def agent_process(emulator_thread, tmp_path):
    if not agent_command_present():
        pytest.skip("the agent command (issue 3) is not in the tree yet")
    port = free_port()
    web_only = ("EMBEDDED_DEV", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")
    env = {key: value for key, value in os.environ.items() if key not in web_only}
    env.update(
        AGENT_HOST="127.0.0.1",
        AGENT_PORT=str(port),
        COMFYUI_URL=emulator_thread.url,
        AGENT_STORE=f"file://{tmp_path / 'tasks'}",
        AGENT_TOKEN="deploy-test-token",
        LOG_FORMAT="json",
    )
    log = (tmp_path / "agent.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "comfyweb.agent"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/health", process=process)
        yield url
    finally:
        stop(process)
        log.close()


def test_agent_starts_from_env_alone_without_a_secret_key(agent_process):
    assert httpx.get(f"{agent_process}/api/health", timeout=5).status_code == 200


def test_probe_routes_answer_without_the_token(agent_process):
    ready = httpx.get(f"{agent_process}/api/ready", timeout=5)
    assert ready.status_code in (200, 503)  # 503 until ComfyUI is reachable and warm, never 401


def test_the_api_itself_still_needs_the_token(agent_process):
    assert httpx.get(f"{agent_process}/api/status", params={"id": "x"}, timeout=5).status_code == 401
