"""Fixtures of the real-ComfyUI suites (`make test-comfyui` sets REAL_COMFYUI_URL; they skip otherwise)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def real_comfyui_url() -> str:
    url = os.environ.get("REAL_COMFYUI_URL", "").rstrip("/")
    if not url:
        pytest.skip("REAL_COMFYUI_URL is not set (run `make test-comfyui`)")
    return url


@pytest.fixture(scope="session")
def real_agent(real_comfyui_url, tmp_path_factory):
    """The GPU agent as its own process (`manage.py agent`, file store) in front of the real ComfyUI."""
    from tests.processes import AgentProcess

    root = tmp_path_factory.mktemp("real-agent")
    agent = AgentProcess(root, real_comfyui_url, env={"AGENT_STATE_DIR": str(root / "state")})
    yield agent
    agent.stop()
