"""Safe by default: loopback unless told, a token (or an explicit --no-auth) on the network, JSON-only runs,
no cross-site WebSockets, and only ComfyUI's API routes passed through."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
import websockets

from comfyweb.agent.cli import UsageError, build_parser, settings_from_options
from comfyweb.agent.config import AgentSettings, exposure_problem, is_loopback_host
from comfyweb.agent.proxy import passthrough_allowed
from tests.agent.test_standalone import standalone_env
from tests.conftest import free_port
from tests.processes import BASE_DIR
from tests.prompts import CORE_WORKFLOW


def test_the_agent_listens_on_loopback_unless_told(monkeypatch):
    monkeypatch.delenv("AGENT_HOST", raising=False)
    assert AgentSettings().host == "127.0.0.1"
    assert settings_from_options(build_parser().parse_args([])).host == "127.0.0.1"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"])
def test_loopback_addresses_need_no_token(host):
    assert is_loopback_host(host)
    assert exposure_problem(AgentSettings(host=host)) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.7", "gpu-1.internal"])
def test_the_network_needs_a_token_or_an_explicit_no_auth(monkeypatch, host):
    monkeypatch.delenv("AGENT_TOKEN", raising=False)
    monkeypatch.delenv("AGENT_NO_AUTH", raising=False)
    with pytest.raises(UsageError, match=r"AGENT_TOKEN.*--no-auth"):
        settings_from_options(build_parser().parse_args(["--host", host]))
    assert settings_from_options(build_parser().parse_args(["--host", host, "--no-auth"])).no_auth
    monkeypatch.setenv("AGENT_TOKEN", "a-token-of-16-chars")
    assert settings_from_options(build_parser().parse_args(["--host", host])).token == "a-token-of-16-chars"
    monkeypatch.delenv("AGENT_TOKEN")
    monkeypatch.setenv("AGENT_NO_AUTH", "1")
    assert settings_from_options(build_parser().parse_args(["--host", host])).no_auth


def test_the_real_process_refuses_to_listen_openly_on_the_network(tmp_path):
    env = standalone_env(tmp_path)
    env.pop("AGENT_TOKEN", None)
    env.pop("AGENT_NO_AUTH", None)
    result = subprocess.run(
        [sys.executable, "-m", "comfyweb.agent", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "without a token" in result.stderr and "--no-auth" in result.stderr


@pytest.mark.parametrize(
    ("mode", "ui", "allowed", "refused"),
    [
        ("api", False,
         ["/prompt", "/api/prompt", "/queue", "/history", "/history/abc", "/api/history/abc", "/view", "/api/view",
          "/upload/image", "/upload/mask", "/object_info", "/object_info/KSampler", "/system_stats", "/interrupt",
          "/ws", "/api/ws", "/embeddings", "/models", "/models/checkpoints", "/extensions", "/features",
          "/emulator/info"],
         ["/", "/manager/reboot", "/api/manager/queue/install", "/customnode/getlist", "/internal/logs",
          "/api/userdata/x", "/snapshot/restore", "/upload/other", "/historyx", "/assets/index.js"]),
        ("api", True, ["/", "/assets/index-abc.js", "/api/userdata/workflows", "/api/settings", "/user.css",
                       "/extensions/core/x.js", "/favicon.ico", "/prompt"],
         ["/manager/reboot", "/customnode/getlist", "/snapshot/restore"]),
        ("all", False, ["/manager/reboot", "/anything"], []),
        ("none", False, [], ["/prompt", "/ws", "/object_info"]),
    ],
)  # fmt: skip
def test_the_passthrough_allowlist(mode, ui, allowed, refused):
    for path in allowed:
        assert passthrough_allowed(path, mode, ui), path
    for path in refused:
        assert not passthrough_allowed(path, mode, ui), path


async def test_only_allowed_paths_reach_comfyui(start_agent):
    async with start_agent() as server, server.client() as client:
        allowed = await client.get("/object_info/SaveImage")
        api_form = await client.get("/api/object_info/SaveImage")
        manager = await client.post("/manager/reboot")
        ui = await client.get("/")
    assert allowed.status_code == api_form.status_code == 200
    assert "SaveImage" in allowed.json()
    for refused in (manager, ui):
        assert refused.status_code == 404 and refused.json()["message"] == "NotFoundError"


async def test_passthrough_all_and_ui_widen_it_and_none_closes_it(start_agent, emulator):
    async with start_agent(passthrough="all") as server, server.client() as client:
        anything = await client.get("/no/such/comfyui/route")
    async with start_agent(passthrough_ui=True) as server, server.client() as client:
        page = await client.get("/")
    async with start_agent(passthrough="none") as server, server.client() as client:
        closed = await client.get("/object_info")
        run = await client.post("/api/run", json=CORE_WORKFLOW)
    assert anything.status_code == 404 and "NotFoundError" not in anything.text, "ComfyUI itself answered"
    assert "NotFoundError" not in page.text, "the UI's page reached ComfyUI"
    assert closed.status_code == 404 and closed.json()["message"] == "NotFoundError"
    assert run.status_code == 200, "the agent's own API does not depend on the passthrough"


async def test_a_refused_websocket_path_is_closed(start_agent):
    async with start_agent(passthrough="none") as server:
        with pytest.raises(websockets.InvalidStatus):
            async with server.connect("/ws?clientId=x"):
                pass


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data"],
)
async def test_api_run_takes_only_json_so_a_cross_site_form_cannot_start_a_job(agent, emulator, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    async with agent.client() as client:
        answer = await client.post("/api/run", content=json.dumps(CORE_WORKFLOW), headers=headers)
    assert answer.status_code == 415
    assert answer.json()["message"] == "UnsupportedMediaTypeError"
    async with httpx.AsyncClient(trust_env=False) as direct:
        assert (await direct.get(f"{emulator.url}/history")).json() == {}, "nothing reached ComfyUI"


async def test_json_with_a_charset_or_a_json_suffix_is_json(agent):
    async with agent.client() as client:
        plain = await client.post("/api/run", content=json.dumps(CORE_WORKFLOW),
                                  headers={"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    assert plain.status_code == 200, plain.text


async def test_a_websocket_from_another_sites_page_is_refused(start_agent):
    async with start_agent(cors_origins=("https://app.example",)) as server:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with server.connect(origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        with pytest.raises(websockets.InvalidStatus):
            async with server.connect("/ws?clientId=x", origin="https://evil.example"):
                pass
        with pytest.raises(websockets.InvalidStatus):
            async with server.connect(origin="null"):
                pass
        host = server.url.removeprefix("http://")
        for origin in ("https://app.example", f"http://{host}", None):  # allowed, its own page, not a browser
            async with server.connect(origin=origin) as socket:
                await socket.send('{"1": {')
                assert '"RequestParamsError"' in await socket.recv()


async def test_with_a_token_every_route_but_the_probes_needs_it(start_agent):
    async with start_agent(token="s3cret") as server, server.client() as client:
        answers = {
            path: await client.get(path)
            for path in ("/view?filename=x.png&type=input", "/history", "/api/status?id=x", "/metrics", "/prompt")
        }
        probes = [await client.get("/api/health"), await client.get("/api/ready")]
    assert all(answer.status_code == 401 for answer in answers.values()), {p: a.status_code for p, a in answers.items()}
    assert [probe.status_code for probe in probes] == [200, 200]


def _agent_envs() -> list[tuple[str, dict[str, str]]]:
    """The environment each deployment descriptor gives the agent (its image's ENV underneath)."""
    from tests.deploy.descriptors import compose, containers, dockerfile, env_assignments, fc_props, k8s_by_kind

    image = {}
    for instruction in dockerfile("agent.Dockerfile"):
        if instruction.keyword == "ENV":
            image.update(env_assignments(instruction))
    found = [("agent.Dockerfile", image)]
    found.append(("compose", {k: str(v) for k, v in compose()["services"]["agent"]["environment"].items()}))
    for workload in k8s_by_kind("Deployment"):
        for container in containers(workload):
            if "comfyweb.agent" in " ".join(container.get("command", [])):
                env = {var["name"]: str(var.get("value", "<from elsewhere>")) for var in container.get("env", [])}
                found.append((f"k8s:{workload['metadata']['name']}", {**image, **env}))
    found.append(("fc", {**image, **{k: str(v) for k, v in fc_props()["environmentVariables"].items()}}))
    return found


@pytest.mark.parametrize(("where", "env"), _agent_envs(), ids=[where for where, _ in _agent_envs()])
def test_every_descriptor_gives_a_networked_agent_a_token_or_no_auth(where, env):
    if where == "agent.Dockerfile":
        assert env["AGENT_HOST"] == "0.0.0.0" and "AGENT_TOKEN" not in env
        return
    if is_loopback_host(env.get("AGENT_HOST", "127.0.0.1")):
        return
    assert env.get("AGENT_TOKEN") or env.get("AGENT_NO_AUTH") in ("1", "true"), f"{where} would not start"
