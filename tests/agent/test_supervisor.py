"""`--comfyui-cmd`: the agent starts ComfyUI, waits for it, fails the tasks of a crash, restarts it."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

from tests.agent.conftest import wait_for_status
from tests.conftest import free_port
from tests.processes import BASE_DIR
from tests.prompts import CORE_WORKFLOW, sampler_workflow

pytestmark = pytest.mark.slow


def emulator_command(port: int, tmp_path) -> str:
    return (
        f"{sys.executable} {BASE_DIR / 'manage.py'} emulator --host 127.0.0.1 --port {port} --step-ms 20 "
        f"--output-dir {tmp_path / 'supervised' / 'output'}"
    )


async def test_a_comfyui_dying_mid_run_fails_the_task_and_is_restarted(start_agent, tmp_path):
    port = free_port()
    comfyui = f"http://127.0.0.1:{port}"
    async with start_agent(comfyui_url=comfyui, comfyui_cmd=emulator_command(port, tmp_path)) as server:
        supervisor = server.agent.supervisor
        await supervisor.wait_until_up(60)
        first_pid = supervisor.pid
        async with server.client() as client:
            ready = await client.get("/api/ready")
            ok = await client.post("/api/run", json=CORE_WORKFLOW)
            async with httpx.AsyncClient() as direct:
                await direct.post(f"{comfyui}/emulator/faults", json={"exit_at_node": "3"})
            crashed = await client.post("/api/run", json=sampler_workflow(steps=20), headers={"task-id": "on-crash"})
            stored = await wait_for_status(server, "on-crash", {"failed", "succeeded", "cancelled"})
            async with asyncio.timeout(60):  # the supervisor notices the exit, then starts a new ComfyUI
                while supervisor.pid == first_pid or not supervisor.up.is_set():
                    await asyncio.sleep(0.05)
            again = await client.post("/api/run", json=CORE_WORKFLOW)
            metrics = (await client.get("/metrics")).text
    assert ready.status_code == 200
    assert ok.status_code == 200 and ok.json()[""]["status"] == "succeeded"
    assert crashed.status_code == 502
    assert crashed.json()["message"] == "ComfyUICrashedError"
    assert stored[""]["status"] == "failed" and "ComfyUI exited" in stored[""]["error"]["message"]
    assert supervisor.pid != first_pid
    assert again.status_code == 200 and again.json()[""]["status"] == "succeeded"
    assert "comfyweb_agent_comfyui_restarts_total 1.0" in metrics
    assert supervisor.process.returncode is not None, "stopping the agent stopped ComfyUI"


async def test_ready_is_false_until_the_supervised_comfyui_answers(start_agent, tmp_path):
    port = free_port()
    command = f"{sys.executable} -c 'import time; time.sleep(30)'"
    async with start_agent(comfyui_url=f"http://127.0.0.1:{port}", comfyui_cmd=command) as server:
        async with server.client() as client:
            ready = await client.get("/api/ready")
        process = server.agent.supervisor.process
    assert ready.status_code == 503
    assert process.returncode is not None
