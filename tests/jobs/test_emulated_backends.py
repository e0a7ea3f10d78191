"""Pages say when the images come from the ComfyUI emulator, however it is reached."""

from __future__ import annotations

import pytest

from comfyweb.jobs.backends import probe_all_emulated, probe_emulated
from comfyweb.jobs.models import GpuBackend
from tests.conftest import free_port

BANNER = "Demo mode: images come from the ComfyUI emulator"


@pytest.fixture
def configured(settings):
    """A deployment that names its backends (no embedded emulator)."""
    settings.GPU_BACKENDS = "comfyui+http://gpu-1:8188"
    return settings


def test_a_backend_that_is_the_emulator_is_recorded_and_announced(client, db, configured, emulator_thread):
    backend = GpuBackend.objects.create(name="emu", url=emulator_thread.url, kind=GpuBackend.Kind.COMFYUI)
    assert BANNER not in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    probe_all_emulated()
    backend.refresh_from_db()
    assert backend.emulated
    assert BANNER in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_an_agent_in_front_of_the_emulator_counts_too(db, tmp_path, emulator_thread):
    from tests.processes import AgentProcess

    agent = AgentProcess(tmp_path, emulator_thread.url)
    try:
        backend = GpuBackend.objects.create(name="agent", url=agent.url, kind=GpuBackend.Kind.AGENT)
        assert probe_emulated(backend) is True
    finally:
        agent.stop()


def test_a_real_comfyui_is_not_the_emulator_and_a_dead_one_changes_nothing(db, configured, live_server):
    # The site itself stands in for a server without /emulator/info (404).
    backend = GpuBackend.objects.create(name="real", url=live_server.url, kind=GpuBackend.Kind.COMFYUI, emulated=True)
    assert probe_emulated(backend) is False
    assert not GpuBackend.objects.get(pk=backend.pk).emulated
    dead = GpuBackend.objects.create(name="dead", url=f"http://127.0.0.1:{free_port()}", emulated=True)
    assert probe_emulated(dead, timeout=1) is None
    assert GpuBackend.objects.get(pk=dead.pk).emulated


def test_the_embedded_default_always_says_so(client, db, settings):
    settings.GPU_BACKENDS, settings.COMFYUI_URL = "", ""
    assert BANNER in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
