"""The agent's tidy disk and fast finish against a real ComfyUI 0.3.75 on the CPU (`make test-comfyui`).

The agent finds ComfyUI's folders itself, from the `--input-directory`/`--output-directory` of ComfyUI's
command line in `/system_stats` (run_real_comfyui.sh starts it so): the uploads of a task are gone when
it ends, its outputs are listed for deletion with its record and deleted then (or at once with
`--outputs-after-read delete`), and what is not the agent's stays.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from comfyweb.agent.files import FileJanitor, folders_from_argv
from tests.contract.sampler import DECODE_NODE, SAVE_NODE, txt2img

pytestmark = pytest.mark.comfyui
if not os.environ.get("REAL_COMFYUI_URL"):
    pytest.skip("REAL_COMFYUI_URL is not set (run `make test-comfyui`)", allow_module_level=True)

TIMEOUT = 120


@pytest.fixture(scope="module")
def comfy_folders(real_comfyui_url) -> tuple[Path, Path]:
    stats = httpx.get(f"{real_comfyui_url}/system_stats", timeout=30, trust_env=False).json()
    found = folders_from_argv(stats["system"]["argv"])
    assert found.input and found.output, "run_real_comfyui.sh gives ComfyUI absolute folders"
    return found.input, found.output


def picture_prompt(color: str) -> dict:
    """txt2img, then a LoadImage of an inline picture scaled to the sample and blended in, saved."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, "PNG")
    inline = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    prompt = txt2img(steps=2)
    prompt["20"] = {"class_type": "LoadImage", "inputs": {"image": inline}}
    prompt["21"] = {"class_type": "ImageScale", "inputs": {"image": ["20", 0], "upscale_method": "nearest-exact",
                                                           "width": 64, "height": 64, "crop": "disabled"}}  # fmt: skip
    prompt["22"] = {"class_type": "ImageBlend", "inputs": {"image1": [DECODE_NODE, 0], "image2": ["21", 0],
                                                           "blend_factor": 0.5, "blend_mode": "normal"}}  # fmt: skip
    prompt["23"] = {"class_type": "SaveImage", "inputs": {"images": ["22", 0], "filename_prefix": "tidy"}}
    return prompt


def agent_uploads(input_dir: Path) -> set[str]:
    return {path.name for path in input_dir.iterdir() if path.name.startswith("cw_")}


async def run(agent_url: str, prompt: dict) -> dict:
    async with httpx.AsyncClient(base_url=agent_url, timeout=TIMEOUT, trust_env=False) as client:
        answer = await client.post("/api/run", json={"prompt": prompt})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_uploads_go_with_their_task_and_outputs_with_their_record(real_comfyui_url, comfy_folders, tmp_path):
    from tests.processes import AgentProcess

    input_dir, output_dir = comfy_folders
    before = agent_uploads(input_dir)
    agent = AgentProcess(tmp_path, real_comfyui_url, env={"AGENT_STATE_DIR": str(tmp_path / "state")})
    try:
        body = await run(agent.url, picture_prompt("orange"))
    finally:
        agent.stop()
    outputs = [output_dir / image["subfolder"] / image["filename"] for node in (SAVE_NODE, "23")
               for image in body[node]["images"]]  # fmt: skip
    assert agent_uploads(input_dir) == before, "the uploaded picture went when its task ended"
    assert all(path.is_file() for path in outputs), "outputs stay while the record lives (async clients)"

    # The record expires after AGENT_RECORD_TTL: what the agent listed then goes (its state folder read
    # here as the agent reads it at each sweep; a restarted agent does the same).
    janitor = FileJanitor(input_dir=str(input_dir), output_dir=str(output_dir), state_dir=tmp_path / "state")
    listed = {entry["path"] for entry in janitor.pending()}
    assert {str(path.relative_to(output_dir)) for path in outputs} == listed
    assert janitor.sweep(now=time.time() + 86400 - 60) == 0, "kept while the record lives"
    assert janitor.sweep(now=time.time() + 86400 + 1) == len(outputs)
    assert not any(path.exists() for path in outputs)


async def test_outputs_after_read_delete_and_a_fast_finish(real_comfyui_url, comfy_folders, tmp_path):
    from tests.processes import AgentProcess

    _, output_dir = comfy_folders
    foreign = output_dir / "not_the_agents.png"
    foreign.write_bytes(b"someone else's picture")
    agent = AgentProcess(tmp_path, real_comfyui_url, "--outputs-after-read", "delete",
                         env={"AGENT_STATE_DIR": str(tmp_path / "state")})  # fmt: skip
    try:
        body = await run(agent.url, txt2img(steps=2))
        saved = output_dir / body[SAVE_NODE]["images"][0]["subfolder"] / body[SAVE_NODE]["images"][0]["filename"]
        for _ in range(100):
            if not saved.exists():
                break
            await asyncio.sleep(0.05)
    finally:
        agent.stop()
    assert body[SAVE_NODE]["results"], "the answer carried the picture"
    assert not saved.exists(), "then the file went"
    assert foreign.read_bytes() == b"someone else's picture"
    foreign.unlink()
