"""Fault switches, set in the config or at run time, break runs the ways real backends break."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from comfyweb.emulator.inprocess import running_emulator
from tests.conftest import free_port
from tests.emulator.protocol import TIMEOUT, run_prompt, types

WORKFLOW = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 255}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "f"}},
}


async def test_fail_node_from_config_sends_execution_error():
    async with running_emulator(faults={"fail_node": "2"}) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        result = await run_prompt(emulator.url, {"prompt": WORKFLOW}, session=s)
    assert types(result["messages"])[-3:] == ["execution_error", "status", "executing"]
    error = next(m for m in result["messages"] if m["type"] == "execution_error")["data"]
    assert (error["node_id"], error["node_type"], error["executed"]) == ("2", "ImageInvert", ["1"])


async def test_fail_class_type_set_at_run_time(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        answer = await session.post(f"{emulator.url}/emulator/faults", json={"fail_class_type": "SaveImage"})
        assert (await answer.json())["faults"] == {"fail_class_type": "SaveImage"}
        failed = await run_prompt(emulator.url, {"prompt": WORKFLOW}, session=session)
        await session.post(f"{emulator.url}/emulator/faults", json={"clear": True})
        healed = await run_prompt(emulator.url, {"prompt": WORKFLOW}, session=session)
    assert failed["history"]["status"]["status_str"] == "error"
    assert healed["history"]["status"]["status_str"] == "success"


async def test_unknown_fault_is_refused(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        answer = await session.post(f"{emulator.url}/emulator/faults", json={"explode": True})
    assert answer.status == 400
    with pytest.raises(ValueError, match="explode"):
        emulator.set_faults(explode=True)


async def test_drop_websocket_after_messages_keeps_the_run_going(emulator):
    emulator.set_faults(drop_ws_after=4)
    client_id = uuid.uuid4().hex
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.ws_connect(f"{emulator.url}/ws?clientId={client_id}") as ws:
            answer = await session.post(f"{emulator.url}/prompt", json={"prompt": WORKFLOW, "client_id": client_id})
            prompt_id = (await answer.json())["prompt_id"]
            received = []
            async for frame in ws:
                received.append(json.loads(frame.data))
        assert len(received) == 4
        async with asyncio.timeout(10):
            while not (history := await (await session.get(f"{emulator.url}/history/{prompt_id}")).json()):
                await asyncio.sleep(0.02)
    assert history[prompt_id]["status"]["status_str"] == "success"


async def test_stall_hangs_the_executor_then_resumes(emulator):
    emulator.set_faults(stall_seconds=1, stall_at_node="2")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        run = asyncio.create_task(run_prompt(emulator.url, {"prompt": WORKFLOW}, session=session))
        async with asyncio.timeout(10):
            while not (await (await session.get(f"{emulator.url}/queue")).json())["queue_running"]:
                await asyncio.sleep(0.01)
        queue = await (await session.get(f"{emulator.url}/queue")).json()
        result = await run
    assert len(queue["queue_running"]) == 1
    assert result["history"]["status"]["status_str"] == "success"


@pytest.mark.slow
def test_exit_mid_run_kills_the_separate_process(tmp_path: Path):
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "emulator", "--port", str(port), "--output-dir", str(tmp_path / "out")],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        async def drive() -> None:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                for _ in range(200):
                    try:
                        info = await (await session.get(f"{url}/emulator/info")).json()
                        break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
                assert info["emulator"] is True
                await session.post(f"{url}/emulator/faults", json={"exit_mid_run": True})
                answer = await session.post(f"{url}/prompt", json={"prompt": WORKFLOW})
                assert answer.status == 200

        asyncio.run(drive())
        assert process.wait(timeout=20) == 3
        assert not any((tmp_path / "out").glob("*.png"))
    finally:
        if process.poll() is None:
            process.kill()
        time.sleep(0)
