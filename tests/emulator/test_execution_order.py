"""Which node runs when, and who hears about it: ComfyUI's ExecutionList order and message routing."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp

from comfyweb.emulator.execution import execution_order
from comfyweb.emulator.inprocess import running_emulator
from tests.conftest import TRANSCRIPTS_DIR
from tests.emulator.protocol import TIMEOUT, run_prompt, shape, types
from tests.emulator.test_files import png, upload

UPLOAD_CHAIN = json.loads((TRANSCRIPTS_DIR / "upload_loadimage_scale_save.json").read_text(encoding="utf-8"))


def executing(messages: list[dict]) -> list[str | None]:
    return [m["data"]["node"] for m in messages if m["type"] == "executing"]


def chain(*, color: int = 1) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "order"}},
    }


def test_an_output_node_runs_as_soon_as_its_inputs_are_ready():
    workflow = UPLOAD_CHAIN["workflow"]
    assert execution_order(workflow, ["3", "4"]) == ["1", "4", "2", "3"]
    assert execution_order(workflow, ["4", "3"]) == ["1", "4", "2", "3"]


def test_a_node_feeding_an_output_goes_before_one_further_away():
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "far"}},
        "5": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "near"}},
    }
    assert execution_order(workflow, ["4", "6"]) == ["1", "5", "6", "2", "3", "4"]


def test_cached_inputs_are_skipped_but_a_cached_output_is_still_staged():
    workflow = chain()
    assert execution_order(workflow, ["3"], {"1", "2", "3"}) == ["3"]
    assert execution_order(workflow, ["3"], {"1"}) == ["2", "3"]


async def test_upload_chain_matches_0_3_75_transcript():
    recorded = UPLOAD_CHAIN
    async with running_emulator(strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        await upload(session, emulator.url, png((10, 20, 30), (30, 20)), "rec_in.png")
        result = await run_prompt(emulator.url, {"prompt": recorded["workflow"]}, session=session)
    assert types(result["messages"]) == types(recorded["messages"])
    assert executing(result["messages"]) == executing(recorded["messages"]) == ["1", "4", "2", "3", None]
    for mine, theirs in zip(result["messages"], recorded["messages"], strict=True):
        assert shape(mine) == shape(theirs), (mine, theirs)
    assert sorted(result["history"]["outputs"]) == ["3", "4"]


async def test_a_node_identical_to_one_already_run_is_a_cache_hit():
    """As recorded from ComfyUI 0.3.75: node 2 repeats node 5, so it sends `executed` (output null) only."""
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 4}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "far"}},
        "5": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "near"}},
    }
    async with running_emulator(strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        result = await run_prompt(emulator.url, {"prompt": workflow}, session=session)
    steps = [(m["type"], m["data"]["node"]) for m in result["messages"] if m["type"] in ("executing", "executed")]
    assert steps == [
        ("executing", "1"), ("executing", "5"), ("executing", "6"), ("executed", "6"), ("executed", "2"),
        ("executing", "3"), ("executing", "4"), ("executed", "4"), ("executing", None),
    ]  # fmt: skip
    assert next(m for m in result["messages"] if m["type"] == "executed")["data"]["output"] is not None
    assert [m["data"]["output"] for m in result["messages"] if m["type"] == "executed"][1] is None
    assert sorted(result["history"]["outputs"]) == ["4", "6"]


async def test_prompt_without_client_id_only_shows_progress_to_others():
    """ComfyUI sends execution messages to the prompt's client only; without one, just progress_state."""
    observer = uuid.uuid4().hex
    async with (
        running_emulator(strict=True) as emulator,
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.ws_connect(f"{emulator.url}/ws?clientId={observer}") as ws,
    ):
        await ws.receive_json(timeout=10)
        answer = await session.post(f"{emulator.url}/prompt", json={"prompt": chain(color=5)})
        prompt_id = (await answer.json())["prompt_id"]
        seen: list[dict] = []
        async with asyncio.timeout(10):
            while True:
                seen.append(await ws.receive_json())
                if seen[-1]["type"] == "status" and seen[-1]["data"]["status"]["exec_info"]["queue_remaining"] == 0:
                    break
        history = await (await session.get(f"{emulator.url}/history/{prompt_id}")).json()
    assert {m["type"] for m in seen} == {"status", "progress_state"}
    assert history[prompt_id]["status"]["status_str"] == "success"
    assert list(history[prompt_id]["outputs"]) == ["3"]


async def test_partial_execution_targets_run_only_the_listed_outputs():
    workflow = {
        **chain(color=9),
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    async with running_emulator(strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        result = await run_prompt(
            emulator.url, {"prompt": workflow, "partial_execution_targets": ["4"]}, session=session
        )
        none = await session.post(
            f"{emulator.url}/prompt", json={"prompt": workflow, "partial_execution_targets": ["2"]}
        )
        none_body = await none.json()
    assert executing(result["messages"]) == ["1", "4", None]
    assert list(result["history"]["outputs"]) == ["4"]
    assert none.status == 400
    assert none_body["error"]["type"] == "prompt_no_outputs"


async def test_every_post_takes_a_queue_number_and_an_explicit_number_is_kept():
    async with running_emulator(strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        rejected = await session.post(f"{emulator.url}/prompt", json={"client_id": "x"})
        first = await (await session.post(f"{emulator.url}/prompt", json={"prompt": chain(color=2)})).json()
        chosen = await (
            await session.post(f"{emulator.url}/prompt", json={"prompt": chain(color=3), "number": 7})
        ).json()
    assert rejected.status == 400
    assert first["number"] == 1
    assert chosen["number"] == 7.0
