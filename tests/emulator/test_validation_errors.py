"""POST /prompt rejections carry ComfyUI's exact error types and body shape (v0.3.64 transcript 03)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from comfyweb.emulator.inprocess import running_emulator
from tests.conftest import TRANSCRIPTS_DIR
from tests.emulator.protocol import TIMEOUT, shape


def recorded_posts() -> list[dict]:
    events = json.loads((TRANSCRIPTS_DIR / "v0.3.64/03_validation_errors.json").read_text(encoding="utf-8"))["events"]
    return [e["http"] for e in events if e.get("http", {}).get("path") == "/prompt" and e["http"]["method"] == "POST"]


def error_summary(body: dict) -> dict:
    return {node: sorted(err["type"] for err in entry["errors"]) for node, entry in body.get("node_errors", {}).items()}


@pytest.mark.parametrize("index", range(len(recorded_posts())))
async def test_prompt_answer_matches_recorded_validation(index):
    recorded = recorded_posts()[index]
    async with running_emulator(strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        answer = await session.post(f"{emulator.url}/prompt", json=recorded["request_json"])
        body = await answer.json()
    expected = recorded["response_json"]
    assert answer.status == recorded["status"]
    assert body.get("error", {}).get("type") == expected.get("error", {}).get("type")
    assert error_summary(body) == error_summary(expected)
    if answer.status == 400:
        assert set(body) == {"error", "node_errors"}
        assert shape(body["error"]) == shape(expected["error"])
    assert comparable(body) == comparable(expected)


def comparable(body: dict) -> dict:
    """The body without what ComfyUI itself does not keep stable from run to run.

    It iterates a node's inputs and the prompt's outputs as Python sets: the order of one node's errors,
    and which failed nodes list which outputs when several outputs fail, vary between ComfyUI processes.
    Ids, numbers and traceback lines differ by nature.
    """
    body = json.loads(json.dumps(body))
    for key in ("prompt_id", "number"):
        body.pop(key, None)
    entries = body.get("node_errors") or {}
    failed_outputs = {output for entry in entries.values() for output in entry["dependent_outputs"]}
    for entry in entries.values():
        entry["errors"].sort(key=lambda item: (item["type"], item["details"]))
        for item in entry["errors"]:
            if "traceback" in item["extra_info"]:
                item["extra_info"]["traceback"] = shape(item["extra_info"]["traceback"])
        if len(failed_outputs) > 1:
            entry["dependent_outputs"] = "<several outputs>"
    return body


async def test_bad_int_matches_recorded_body_exactly():
    recorded = json.loads((TRANSCRIPTS_DIR / "validation_error.json").read_text(encoding="utf-8"))
    async with running_emulator(strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        answer = await session.post(f"{emulator.url}/prompt", json={"prompt": recorded["workflow"]})
        assert answer.status == 400
        assert await answer.json() == recorded["post_body"]


async def test_non_json_body_is_a_server_error_like_comfyui():
    async with running_emulator() as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        answer = await session.post(f"{emulator.url}/prompt", data=b"not json")
        assert answer.status == 500


async def test_unknown_node_runs_without_strict():
    workflow = json.loads((TRANSCRIPTS_DIR / "unknown_node.json").read_text(encoding="utf-8"))["workflow"]
    async with running_emulator() as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        answer = await session.post(f"{emulator.url}/prompt", json={"prompt": workflow})
        assert answer.status == 200
        assert (await answer.json())["node_errors"] == {}
