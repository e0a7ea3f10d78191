"""One port per role, the same in every descriptor; health probes hit routes the agent really serves."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.deploy.descriptors import (
    AGENT_PORT,
    WEB_PORT,
    compose,
    containers,
    dockerfile,
    exec_form,
    fc_props,
    k8s_object,
    stage_env,
)


def _exposed(name: str) -> list[int]:
    return [int(port.split("/")[0]) for i in dockerfile(name) if i.keyword == "EXPOSE" for port in i.args.split()]


def _healthcheck(name: str) -> list[str]:
    (check,) = [i for i in dockerfile(name) if i.keyword == "HEALTHCHECK"]
    return exec_form(check)


def test_each_image_exposes_exactly_one_port():
    assert _exposed("agent.Dockerfile") == [AGENT_PORT]
    assert _exposed("web.Dockerfile") == [WEB_PORT]


def test_agent_image_listens_on_its_exposed_port_and_reaches_comfyui_on_loopback():
    env = stage_env("agent.Dockerfile", "agent")
    assert int(env["AGENT_PORT"]) == AGENT_PORT
    assert env["AGENT_HOST"] == "0.0.0.0"
    comfyui = urlsplit(env["COMFYUI_URL"])
    assert comfyui.hostname == "127.0.0.1"
    cmd_arg = [i for i in dockerfile("agent.Dockerfile") if i.keyword == "ARG" and i.args.startswith("COMFYUI_CMD=")]
    (arg,) = cmd_arg
    assert env["AGENT_COMFYUI_CMD"] == "${COMFYUI_CMD}"
    assert f"--port {comfyui.port}" in arg.args and "--listen 127.0.0.1" in arg.args


def test_comfyui_base_image_is_a_build_argument():
    instructions = dockerfile("agent.Dockerfile")
    first_from = next(n for n, i in enumerate(instructions) if i.keyword == "FROM")
    global_args = {i.args.split("=")[0] for i in instructions[:first_from] if i.keyword == "ARG"}
    assert "COMFYUI_IMAGE" in global_args
    # the agent's stages are built on the ComfyUI image, whichever way its Python comes
    python_stages = [i for i in instructions if i.keyword == "FROM" and i.args.split()[-1].startswith("agent-python-")]
    assert {i.args.split()[-1] for i in python_stages} == {"agent-python-uv", "agent-python-system"}
    assert all(i.args.split()[0] == "${COMFYUI_IMAGE}" for i in python_stages)
    final = [i for i in instructions if i.keyword == "FROM"][-1]
    assert final.args.split()[0] == "agent-python-${AGENT_PYTHON_FROM}"


def test_image_healthchecks_probe_their_own_port():
    agent = _healthcheck("agent.Dockerfile")
    assert agent[-1] == "/api/health"  # probe.py turns a bare path into 127.0.0.1:$AGENT_PORT
    web = _healthcheck("web.Dockerfile")
    assert urlsplit(web[-1]).port == WEB_PORT


def test_the_web_server_listens_on_the_web_port():
    command = exec_form(next(i for i in dockerfile("web.Dockerfile") if i.keyword == "CMD"))
    assert command[command.index("--port") + 1] == str(WEB_PORT)


def test_compose_ports_match_the_images():
    services = compose()["services"]
    assert services["proxy"]["ports"] == ["127.0.0.1:${PROXY_PORT:-8000}:80"]
    assert int(stage_env("agent.Dockerfile", "agent")["AGENT_PORT"]) == AGENT_PORT  # the agent image's own
    emulator = services["emulator"]["command"]
    emulator_port = emulator[emulator.index("--port") + 1]
    assert urlsplit(services["agent"]["environment"]["COMFYUI_URL"]).port == int(emulator_port)


def _backend_ports(value: str) -> list[int]:
    """Ports of the GPU_BACKENDS entries, read by the app's own parser (so the value is valid too)."""
    from comfyweb.jobs.backends import parse_gpu_backends

    return [urlsplit(spec.url).port for spec in parse_gpu_backends(value)]


def test_gpu_backends_point_at_the_agent_port():
    assert _backend_ports(compose()["x-web-env"]["GPU_BACKENDS"]) == [AGENT_PORT]
    config = k8s_object("ConfigMap", "comfyweb-config")["data"]
    assert _backend_ports(config["GPU_BACKENDS"]) == [AGENT_PORT]


def test_k8s_ports_match_the_images():
    (web,) = containers(k8s_object("Deployment", "comfyweb-web"))
    assert [p["containerPort"] for p in web["ports"]] == [WEB_PORT]
    (agent,) = containers(k8s_object("Deployment", "comfyweb-agent"))
    assert [p["containerPort"] for p in agent["ports"]] == [AGENT_PORT]
    assert {e["name"]: e.get("value") for e in agent["env"]}["AGENT_PORT"] == str(AGENT_PORT)
    assert k8s_object("Service", "comfyweb-agent")["spec"]["ports"][0]["port"] == AGENT_PORT


def test_k8s_agent_probes_use_ready_and_health():
    (agent,) = containers(k8s_object("Deployment", "comfyweb-agent"))
    assert agent["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    assert agent["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert agent["startupProbe"]["httpGet"]["path"] == "/api/health"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert agent[probe]["httpGet"]["port"] == agent["ports"][0]["name"]


def test_fc_container_port_and_health_check_match_the_agent():
    config = fc_props()["customContainerConfig"]
    assert config["port"] == AGENT_PORT
    assert int(fc_props()["environmentVariables"]["AGENT_PORT"]) == AGENT_PORT
    assert config["healthCheckConfig"]["httpGetUrl"] == "/api/ready"


def test_compose_agent_waits_for_ready():
    assert compose()["services"]["agent"]["healthcheck"]["test"][-1] == "/api/ready"
