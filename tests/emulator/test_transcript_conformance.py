"""The emulator's message types, order and JSON shapes match the recorded ComfyUI transcripts."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import statistics

import aiohttp
import pytest

from comfyweb.emulator import execution
from comfyweb.emulator.inprocess import running_emulator
from tests.conftest import TRANSCRIPTS_DIR
from tests.contract.protocol import Recording, record_run
from tests.emulator.protocol import TIMEOUT, run_prompt, shape, types

TOP_LEVEL_RUNS = ["success_core.json", "execution_error.json"]
TOP_LEVEL_REJECTED = ["validation_error.json", "load_missing_file.json", "unknown_node.json"]
V064_RUNS = ["01_success_basic.json", "05_cached_rerun.json", "10_ksampler_random_sd15.json"]


def load(name: str) -> dict:
    return json.loads((TRANSCRIPTS_DIR / name).read_text(encoding="utf-8"))


def without_volatile(message: dict) -> dict:
    """Tracebacks and current inputs are implementation details; their presence and kind still count."""
    return message


def assert_same_messages(emulated: list[dict], recorded: list[dict]) -> None:
    assert types(emulated) == types(recorded)
    for mine, theirs in zip(emulated, recorded, strict=True):
        assert shape(mine) == shape(theirs), (mine, theirs)


@pytest.mark.parametrize("name", TOP_LEVEL_RUNS)
async def test_run_matches_0_3_75_transcript(name):
    recorded = load(name)
    async with running_emulator(step_ms=1, strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        result = await run_prompt(emulator.url, {"prompt": recorded["workflow"]}, session=session)
    assert result["status"] == recorded["post_status"]
    assert shape(result["body"]) == shape(recorded["post_body"])
    assert_same_messages(result["messages"], recorded["messages"])
    history = next(iter(recorded["history"].values()))
    assert shape(result["history"]) == shape(history)
    assert types([{"type": kind} for kind, _ in result["history"]["status"]["messages"]]) == [
        kind for kind, _ in history["status"]["messages"]
    ]


async def test_cached_rerun_matches_0_3_75_transcript():
    recorded = load("cached_rerun.json")
    async with running_emulator(step_ms=1, strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        first = await run_prompt(emulator.url, {"prompt": recorded["workflow"]}, session=session)
        again = await run_prompt(emulator.url, {"prompt": recorded["workflow"]}, session=session)
    assert_same_messages(again["messages"], recorded["messages"])
    cached = next(m for m in again["messages"] if m["type"] == "execution_cached")
    assert cached["data"]["nodes"] == ["1", "2", "3"]
    assert again["history"]["outputs"] == first["history"]["outputs"]


@pytest.mark.parametrize("name", TOP_LEVEL_REJECTED)
async def test_rejection_matches_0_3_75_transcript(name):
    recorded = load(name)
    async with running_emulator(strict=True) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        result = await run_prompt(emulator.url, {"prompt": recorded["workflow"]}, session=session)
    assert result["status"] == recorded["post_status"] == 400
    assert result["body"] == recorded["post_body"]


def v064_runs(name: str) -> list[tuple[dict, list[dict]]]:
    """(request body, messages until `executing` null) for each accepted POST /prompt of a v0.3.64 file."""
    runs, current = [], None
    for event in load(f"v0.3.64/{name}")["events"]:
        http = event.get("http")
        if http and http["path"] == "/prompt" and http["method"] == "POST" and http["status"] == 200:
            current = ({k: v for k, v in http["request_json"].items() if k != "client_id"}, [])
            runs.append(current)
        message = event.get("ws_recv")
        if current and message and message["type"] != "feature_flags":
            current[1].append(message)
            if message["type"] == "executing" and message["data"]["node"] is None:
                current = None
    return runs


@pytest.mark.parametrize("name", V064_RUNS)
async def test_runs_match_0_3_64_transcript(name):
    runs = v064_runs(name)
    assert runs
    async with running_emulator(step_ms=1) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        first_cached = next(m for m in runs[0][1] if m["type"] == "execution_cached")
        if first_cached["data"]["nodes"]:  # recorded after an earlier run of the same prompt
            await run_prompt(emulator.url, runs[0][0], session=session)
        for body, recorded in runs:
            result = await run_prompt(emulator.url, body, session=session)
            assert_same_messages(result["messages"][1:], recorded)


async def test_interrupt_matches_0_3_75_transcript():
    recorded = load("interrupt.json")
    body = v064_runs("10_ksampler_random_sd15.json")[0][0]
    sampler = next(node for node in body["prompt"].values() if node["class_type"] == "KSampler")
    sampler["inputs"]["steps"] = 500
    async with running_emulator(step_ms=20) as emulator, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        run = asyncio.create_task(run_prompt(emulator.url, body, session=session))
        async with asyncio.timeout(10):
            while not (await (await session.get(f"{emulator.url}/queue")).json())["queue_running"]:
                await asyncio.sleep(0.01)
        await session.post(f"{emulator.url}/interrupt", json={})
        result = await run
    tail = types(result["messages"])[-3:]
    assert tail == types(recorded["messages"])[-3:] == ["execution_interrupted", "status", "executing"]
    interrupted = next(m for m in result["messages"] if m["type"] == "execution_interrupted")
    recorded_interrupt = next(m for m in recorded["messages"] if m["type"] == "execution_interrupted")
    assert shape(interrupted) == shape(recorded_interrupt)
    assert result["history"]["status"]["status_str"] == "error"
    assert result["history"]["status"]["completed"] is False


# --- sampler runs: ComfyUI 0.3.75 with a random-weight SD1.x checkpoint (tests/contract/record_transcripts.py) ---

# (transcript, the transcript whose prompt ran just before it on the real server: what its cache held)
SAMPLER_RUNS = [
    ("sampler_success.json", None),
    ("sampler_partial_cache.json", "sampler_success.json"),
    ("sampler_interrupt.json", "sampler_success.json"),
]
# How long after `execution_success` (or `execution_interrupted`) the recorded ComfyUI sent the final
# `executing` null at most: the end of a run is one burst, nothing to wait for.
END_GAP_SLACK = 0.02


class RecordedSleeps:
    """Stands in for the emulator's `asyncio` module and notes every wait it makes.

    The emulator's timing is its waits: checking them is exact, where timing its messages on a busy
    machine is not."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __getattr__(self, name: str) -> object:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: object = None) -> object:
        self.sleeps.append(delay)
        return await asyncio.sleep(delay, result)


def sampler_recording(recorded: dict) -> Recording:
    return Recording(
        recorded["workflow"], recorded["post_status"], recorded["post_body"], recorded["messages"],
        recorded["history"], recorded["times"],
    )  # fmt: skip


def step_gaps(recording: Recording) -> list[float]:
    """Seconds between the sampler's `executing` and its first `progress`, then between `progress` messages."""
    marks = [
        when
        for message, when in zip(recording.messages, recording.times, strict=True)
        if message["type"] == "progress" or (message["type"] == "executing" and message["data"]["node"] == "3")
    ]
    return [later - earlier for earlier, later in itertools.pairwise(marks)]


def end_gap(recording: Recording) -> float:
    """Seconds from the run's outcome message to the final `executing` with node null."""
    ends = ("execution_success", "execution_interrupted", "execution_error")
    outcome = next(when for m, when in zip(recording.messages, recording.times, strict=True) if m["type"] in ends)
    return recording.times[-1] - outcome


async def interrupt_on_step_3(message: dict, session: aiohttp.ClientSession, url: str) -> None:
    if message["type"] == "progress" and message["data"]["value"] == 3:
        await session.post(f"{url}/interrupt", json={})


@pytest.mark.parametrize(("name", "before"), SAMPLER_RUNS)
async def test_sampler_run_matches_0_3_75_transcript(name, before, monkeypatch):
    recorded = sampler_recording(load(name))
    step_ms = round(statistics.median(step_gaps(recorded)) * 1000)
    waits = RecordedSleeps()
    async with running_emulator(step_ms=step_ms, strict=True) as emulator:
        if before:
            await record_run(emulator.url, load(before)["workflow"])
        monkeypatch.setattr(execution, "asyncio", waits)
        hook = functools.partial(interrupt_on_step_3, url=emulator.url) if "interrupt" in name else None
        emulated = await record_run(emulator.url, recorded.workflow, on_message=hook)

    assert emulated.post_status == recorded.post_status == 200
    assert shape(emulated.post_body) == shape(recorded.post_body)
    assert_same_messages(emulated.messages, recorded.messages)
    for kind in ("progress", "execution_cached", "executing", "executed"):
        mine = [summary(m) for m in emulated.messages if m["type"] == kind]
        assert mine == [summary(m) for m in recorded.messages if m["type"] == kind], kind
    history, recorded_history = emulated.history[emulated.prompt_id], recorded.history[recorded.prompt_id]
    assert shape(history) == shape(recorded_history)
    assert history["status"] == {**recorded_history["status"], "messages": history["status"]["messages"]}
    assert [kind for kind, _ in history["status"]["messages"]] == [
        kind for kind, _ in recorded_history["status"]["messages"]
    ]
    # Timing: a step waits what the recording's steps took, and nothing else waits, so the run ends in
    # one burst as the recorded ComfyUI's does (its end gap is the recording's, checked here).
    assert end_gap(recorded) <= END_GAP_SLACK
    steps_run = sum(1 for m in emulated.messages if m["type"] == "progress")
    interrupted = 1 if "interrupt" in name else 0  # the wait for the step the interrupt cut short
    assert waits.sleeps == [step_ms / 1000] * (steps_run + interrupted), (waits.sleeps, step_ms)


def summary(message: dict) -> object:
    """What a client reads in a message beyond its shape: node ids, step numbers, cached node sets."""
    data = message["data"]
    if message["type"] == "progress":
        return data["node"], data["value"], data["max"]
    if message["type"] == "execution_cached":
        return sorted(data["nodes"])
    return data.get("node")
