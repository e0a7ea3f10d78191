"""Samplers report progress per step; VAEDecode paints a marked image; the seed couple-photo prompt runs."""

from __future__ import annotations

import aiohttp
from PIL import Image

from tests.emulator.protocol import TIMEOUT, run_prompt
from tests.emulator.test_files import png, upload
from tests.prompts import SAMPLER_WORKFLOW


async def test_sampler_sends_one_progress_per_step(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        result = await run_prompt(emulator.url, {"prompt": SAMPLER_WORKFLOW}, session=session)
    progress = [m["data"] for m in result["messages"] if m["type"] == "progress"]
    assert [p["value"] for p in progress] == [1, 2, 3, 4, 5, 6]
    assert {(p["max"], p["node"]) for p in progress} == {(6, "3")}
    image = Image.open(emulator.output_dir / result["history"]["outputs"]["9"]["images"][0]["filename"])
    assert image.size == (64, 48)


async def test_same_seed_gives_the_same_picture_and_other_seed_another(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        first = await run_prompt(emulator.url, {"prompt": SAMPLER_WORKFLOW}, session=session)
        other = {**SAMPLER_WORKFLOW, "3": {**SAMPLER_WORKFLOW["3"], "inputs": {**SAMPLER_WORKFLOW["3"]["inputs"],
                                                                                "seed": 8}}}  # fmt: skip
        second = await run_prompt(emulator.url, {"prompt": other}, session=session)
    files = [emulator.output_dir / r["history"]["outputs"]["9"]["images"][0]["filename"] for r in (first, second)]
    assert files[0].read_bytes() != files[1].read_bytes()


async def test_couple_photo_prompt_runs_to_a_saved_image(emulator, couple_photo_prompt):
    prompt = couple_photo_prompt.get("prompt", couple_photo_prompt)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        for node_id, node in prompt.items():
            if node["class_type"] == "LoadImage":
                node["inputs"]["image"] = (await upload(session, emulator.url, png((20, 40, 60)), f"{node_id}.png"))[
                    "name"
                ]
        result = await run_prompt(emulator.url, {"prompt": prompt}, session=session)
    assert result["status"] == 200, result["body"]
    assert result["history"]["status"]["status_str"] == "success"
    executed = {m["data"]["node"] for m in result["messages"] if m["type"] == "executing" and m["data"]["node"]}
    assert {"3", "8", "9", "33", "47"} <= executed
    saved = result["history"]["outputs"]["9"]["images"][0]
    image = Image.open(emulator.output_dir / saved["subfolder"] / saved["filename"])
    assert image.format == "PNG"
    assert any(m["type"] == "progress" for m in result["messages"])
