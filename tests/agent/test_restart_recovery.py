"""No task left `running` when its agent dies: a restarted agent (or any instance asked about it) ends it
as `agent restarted`."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import httpx
import pytest
import websockets

from comfyweb.agent.config import HOST_ID
from comfyweb.agent.orphans import orphaned
from comfyweb.agent.stores import CANCEL_SUFFIX, FileStore, cancel_marker
from tests.agent.conftest import eventually, wait_for_status
from tests.processes import AgentProcess, EmulatorProcess, stop
from tests.prompts import CORE_WORKFLOW, sampler_workflow


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def left_behind(
    task_id: str, *, host: str = HOST_ID, pid: int | None = None, uploads: dict | None = None, comfyui: str = ""
) -> dict:
    """A record as a killed agent leaves it: running, on a prompt, with uploads."""
    return {
        "id": task_id, "prompt_id": f"prompt-{task_id}", "instance": f"gone-{task_id}", "host": host,
        "pid": pid if pid is not None else dead_pid(), "comfyui": comfyui, "created_at": time.time(),
        "phase": "submitted",
        "progress": {"": {"max": 0, "value": 0, "start": 0, "last_updated": 0, "images": None, "status": "running",
                          "prompt_id": f"prompt-{task_id}", "error": None}},
        "results": None, "seeds": {}, "uploads": uploads or {}, "options": {"results": True, "timeout": 600},
        "cancel_requested": False,
    }  # fmt: skip


def write_raw(store: FileStore, record: dict, updated_at: float) -> None:
    """A record as written `time.time() - updated_at` seconds ago (FileStore.put would stamp it now)."""
    stamped = {**record, "updated_at": updated_at, "expires_at": time.time() + 3600}
    store.path_for(record["id"]).write_text(json.dumps(stamped), encoding="utf-8")


async def test_a_starting_agent_ends_the_tasks_of_its_dead_predecessor(agent_settings, start_agent, emulator):
    upload = "cw_" + "ab" * 16 + ".png"
    (emulator.input_dir / upload).write_bytes(b"\x89PNG fake")
    store = FileStore(agent_settings.store_url.removeprefix("file://"))
    await store.put("dead-1", left_behind("dead-1", uploads={"1.image": upload}, comfyui=emulator.url))
    await store.put(cancel_marker("dead-1"), {"prompt_id": "prompt-dead-1"})
    await store.put("alive-elsewhere", left_behind("alive-elsewhere", host="another-box:1", pid=1))
    write_raw(store, left_behind("silent-elsewhere", host="another-box:1", pid=1), updated_at=time.time() - 120)

    async with start_agent(comfyui_input_dir=str(emulator.input_dir)) as server, server.client() as client:
        status = (await client.get("/api/status", params={"id": "dead-1"})).json()
        async with server.connect("/api/run/ws?id=dead-1") as socket:
            frames = [json.loads(raw) async for raw in socket]
        await eventually(lambda: not (emulator.input_dir / upload).exists(), "the predecessor's upload is deleted")
        alive = (await client.get("/api/status", params={"id": "alive-elsewhere"})).json()
    assert status[""]["status"] == "failed"
    assert status[""]["error"]["message"] == "agent restarted" and status[""]["error"]["kind"] == "restarted"
    assert frames[-1]["type"] == "error" and frames[-1]["data"]["message"] == "AgentRestartedError"
    assert not (emulator.input_dir / upload).exists()
    assert not list(store.directory.glob(f"*{CANCEL_SUFFIX}.json")), "its cancel request was removed"
    assert alive[""]["status"] == "running", "a live agent's task on another machine is left alone"
    assert (await store.get("silent-elsewhere"))["progress"][""]["status"] == "failed", "silent for 120 s: gone"


async def test_a_record_going_silent_is_ended_when_asked(agent_settings, start_agent):
    store = FileStore(agent_settings.store_url.removeprefix("file://"))
    async with start_agent(orphan_seconds=30) as server, server.client() as client:
        await store.put("quiet", left_behind("quiet", host="another-box:1", pid=1))
        fresh = (await client.get("/api/status", params={"id": "quiet"})).json()
        write_raw(store, left_behind("quiet", host="another-box:1", pid=1), updated_at=time.time() - 31)  # then silent
        async with server.connect("/api/run/ws?id=quiet") as socket:
            frames = [json.loads(raw) async for raw in socket]
    assert fresh[""]["status"] == "running"
    assert frames[-1]["data"]["message"] == "AgentRestartedError"
    assert (await store.get("quiet"))["progress"][""]["status"] == "failed"


async def test_live_tasks_prove_they_are_alive(start_agent, emulator, agent_settings):
    """A task waiting for a slot says nothing for long: its record is rewritten anyway, never taken for dead."""
    emulator.config.step_ms = 20
    async with start_agent(heartbeat_seconds=0.2, orphan_seconds=1) as server, server.client() as client:
        headers = {"X-Fc-Invocation-Type": "Async"}
        await client.post("/api/run", json=sampler_workflow(steps=5000), headers={**headers, "task-id": "busy"})
        await client.post("/api/run", json=CORE_WORKFLOW, headers={**headers, "task-id": "waiting"})
        first = await server.agent.store.get("waiting")
        stored: list[dict] = []

        async def rewritten() -> None:
            while not stored or stored[-1]["updated_at"] <= first["updated_at"]:
                await asyncio.sleep(0.05)
                stored.append(await server.agent.store.get("waiting"))

        await asyncio.wait_for(rewritten(), 60)
        later = stored[-1]
        await client.delete("/api/run", params={"id": "busy"})
        await wait_for_status(server, "waiting", {"succeeded"})
    assert later["updated_at"] > first["updated_at"]
    assert later["progress"][""]["status"] == "queued" and later["phase"] == "queued", "rewritten while it waited"
    assert not orphaned(later, server.agent.settings.__class__(orphan_seconds=1), now=later["updated_at"] + 0.5)


@pytest.mark.slow
def test_kill_9_then_restart_ends_the_task_and_frees_comfyui(tmp_path):
    emulator = EmulatorProcess(tmp_path, step_ms=50)
    store = f"file://{tmp_path / 'tasks'}"
    first = AgentProcess(tmp_path, emulator.url, "--store", store)
    second = None
    try:
        headers = {"X-Fc-Invocation-Type": "Async", "task-id": "killed"}
        httpx.post(f"{first.url}/api/run", json=sampler_workflow(steps=400), headers=headers, timeout=10)
        for _ in range(1200):
            if first.status("killed")[""]["status"] == "running":
                break
            time.sleep(0.05)
        stop(first.process, signal.SIGKILL)
        second = AgentProcess(tmp_path, emulator.url, "--store", store)
        status = second.status("killed")
        for _ in range(1200):  # its prompt is taken off ComfyUI
            queue = httpx.get(f"{emulator.url}/queue", timeout=5).json()
            if not queue["queue_running"] and not queue["queue_pending"]:
                break
            time.sleep(0.05)

        async def follow() -> list[dict]:
            url = second.url.replace("http://", "ws://") + "/api/run/ws?id=killed"
            async with websockets.connect(url) as socket:
                return [json.loads(raw) async for raw in socket]

        frames = asyncio.run(follow())
    finally:
        stop(first.process, signal.SIGKILL)
        if second is not None:
            second.stop()
        emulator.stop()
    assert status[""]["status"] == "failed" and status[""]["error"]["message"] == "agent restarted"
    assert queue == {"queue_running": [], "queue_pending": []}, "the dead agent's prompt no longer holds ComfyUI"
    assert frames == [{"type": "error", "data": {"message": "AgentRestartedError", "error": status[""]["error"],
                                                 "progress": status}}]  # fmt: skip
    records = [json.loads(path.read_text()) for path in (tmp_path / "tasks").glob("*.json")]
    assert [r["id"] for r in records] == ["killed"], "no cancel request or other record left"
