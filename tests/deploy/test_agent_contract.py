"""What the descriptors assume of the agent process, checked on the real `python -m comfyweb.agent`.

Kubernetes httpGet probes and Function Compute's health check cannot send a bearer token, and the
agent image sets neither SECRET_KEY nor DJANGO_SETTINGS_MODULE: the agent must start from its own
variables alone and answer its health routes openly even when AGENT_TOKEN protects the API. The routes the
descriptors probe and scrape, and the metrics the autoscalers use, are asked of the running process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.deploy.descriptors import ROOT
from tests.deploy.test_autoscaling_and_metrics import documented_metrics
from tests.processes import stop, wait_for_http

TOKEN = "deploy-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def agent_process(tmp_path_factory):
    from comfyweb.emulator.inprocess import EmulatorThread

    tmp_path = tmp_path_factory.mktemp("agent")
    emulator = EmulatorThread(step_ms=5, output_dir=tmp_path / "emulator").start()
    port = free_port()
    web_only = ("EMBEDDED_DEV", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")
    env = {key: value for key, value in os.environ.items() if key not in web_only}
    env.update(
        AGENT_HOST="127.0.0.1",
        AGENT_PORT=str(port),
        COMFYUI_URL=emulator.url,
        AGENT_STORE=f"file://{tmp_path / 'tasks'}",
        AGENT_TOKEN=TOKEN,
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
        emulator.stop()


def test_agent_starts_from_env_alone_without_a_secret_key(agent_process):
    assert httpx.get(f"{agent_process}/api/health", timeout=5).status_code == 200


def test_probe_routes_answer_without_the_token(agent_process):
    ready = httpx.get(f"{agent_process}/api/ready", timeout=5)
    assert ready.status_code in (200, 503)  # 503 until ComfyUI is reachable and warm, never 401


def test_the_api_itself_still_needs_the_token(agent_process):
    assert httpx.get(f"{agent_process}/api/status", params={"id": "x"}, timeout=5).status_code == 401


@pytest.mark.parametrize(
    ("method", "route", "expected"),
    [
        ("GET", "/api/health", {200}),
        ("GET", "/api/ready", {200, 503}),
        ("GET", "/metrics", {200}),
        ("POST", "/api/run", {415}),  # no JSON body: the agent's own refusal, not a passthrough 404
        ("GET", "/api/status", {400, 404}),
    ],
)
def test_probed_and_scraped_routes_are_served_by_the_agent(agent_process, method, route, expected):
    response = httpx.request(method, f"{agent_process}{route}", headers=AUTH, timeout=10)
    assert response.status_code in expected, response.text
    if response.status_code >= 400:
        assert "message" in response.json(), "an error in the agent's format (fc-comfyui's), not ComfyUI's"


def test_the_agents_metrics_are_the_documented_ones(agent_process):
    scraped = httpx.get(f"{agent_process}/metrics", headers=AUTH, timeout=10).text
    families = {family.name for family in text_string_to_metric_families(scraped)}
    served = {name for name in families if name.startswith("comfyweb_") and not name.endswith("_created")}
    documented = {name.removesuffix("_total") for name in documented_metrics()["agent"]}
    assert served == documented
