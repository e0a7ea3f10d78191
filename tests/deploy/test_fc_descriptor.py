"""deploy/fc/s.yaml holds what docs/serverless-gpu.md says it sets, value for value."""

from __future__ import annotations

import re

import pytest

from tests.deploy.descriptors import DOCS, fc_props, stage_env

DOC = (DOCS / "serverless-gpu.md").read_text(encoding="utf-8")


def _table(heading_cell: str) -> dict[str, str]:
    """{first cell: second cell} of the doc's table whose header starts with `heading_cell`."""
    rows, inside = {}, False
    for line in DOC.splitlines():
        if line.startswith(f"| {heading_cell} |"):
            inside, rows = True, {}
            continue
        if inside and not line.startswith("|"):
            break
        if inside and not line.startswith("| ---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1]
    return rows


def _first_code(cell: str) -> str:
    return re.findall(r"`([^`]+)`", cell)[0]


SETTINGS = _table("setting")
AGENT_VARIABLES = _table("variable (agent function)")


def test_the_settings_table_matches_the_descriptor():
    props = fc_props()
    assert _first_code(SETTINGS["runtime"]) == props["runtime"]
    assert int(_first_code(SETTINGS["customContainerConfig.port"])) == props["customContainerConfig"]["port"]
    health = props["customContainerConfig"]["healthCheckConfig"]["httpGetUrl"]
    assert _first_code(SETTINGS["healthCheckConfig.httpGetUrl"]) == health
    assert _first_code(SETTINGS["gpuConfig"]) == props["gpuConfig"]["gpuType"]
    gigabytes = int(re.search(r"(\d+) GB", SETTINGS["gpuConfig"]).group(1))
    assert gigabytes * 1024 == props["gpuConfig"]["gpuMemorySize"]
    assert int(_first_code(SETTINGS["instanceConcurrency"])) == props["instanceConcurrency"]
    assert _first_code(SETTINGS["asyncInvokeConfig"]) == "asyncTask: true" and props["asyncInvokeConfig"]["asyncTask"]
    assert "no retries" in SETTINGS["asyncInvokeConfig"] and props["asyncInvokeConfig"]["maxAsyncRetryAttempts"] == 0
    assert props["nasConfig"] == props["vpcConfig"] == _first_code(SETTINGS["nasConfig` / `vpcConfig"])
    assert int(_first_code(SETTINGS["timeout"])) == props["timeout"]


@pytest.mark.parametrize("name", sorted(AGENT_VARIABLES))
def test_each_documented_variable_is_set_as_documented(name):
    env = fc_props()["environmentVariables"]
    if name == "AGENT_TOKEN":  # "from your shell at deploy time"
        assert env[name] == "${env('AGENT_TOKEN')}"
        return
    assert env[name] == _first_code(AGENT_VARIABLES[name])


def test_the_promises_around_the_tables_hold():
    props, env = fc_props(), fc_props()["environmentVariables"]
    assert int(env["AGENT_PORT"]) == props["customContainerConfig"]["port"], "AGENT_PORT must equal the port"
    assert props["timeout"] >= 600, "timeout: keep it >= the web's JOB_TIMEOUT (600 by default)"
    assert "AGENT_TOKEN" in env or env.get("AGENT_NO_AUTH") == "1", "the descriptor must set one of them"
    image = stage_env("agent.Dockerfile", "agent")  # "The image sets AGENT_HOST, COMFYUI_URL and AGENT_COMFYUI_CMD"
    assert image["AGENT_HOST"] == "0.0.0.0" and image["COMFYUI_URL"] and "AGENT_COMFYUI_CMD" in image
    assert env["AGENT_STORE"].startswith("file:///mnt/"), "the task store is on the shared NAS"
    assert props["customContainerConfig"]["healthCheckConfig"]["httpGetUrl"] == "/api/ready"
