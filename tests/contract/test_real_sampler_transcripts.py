"""The recorded sampler transcripts (tests/fixtures/comfyui/sampler_*.json) still describe the real ComfyUI.

Runs only under `make test-comfyui`. `make test` holds the emulator to these transcripts
(tests/emulator/test_transcript_conformance.py); here a fresh run of the same kind on the real server with
the random-weight SD1.x checkpoint must show the same messages, in the same order and shape, and nothing but
the transcript's own messages after the outcome (`execution_success`, `…_interrupted`, `…_error`). How soon
the last one follows is not asserted: on a busy machine ComfyUI's own thread may take a while, and a test
must not fail for that. Re-record them with `run_real_comfyui.sh --record`.
"""

from __future__ import annotations

import json
import os

import aiohttp
import pytest

from tests.conftest import TRANSCRIPTS_DIR
from tests.contract.protocol import CALL_TIMEOUT, Recording, message_sequence, record_run, run_messages, shape
from tests.contract.record_transcripts import INTERRUPT_AT_STEP, INTERRUPT_STEPS, STEPS, interrupt_at_step
from tests.contract.sampler import CHECKPOINT, SAMPLER_NODE, evict_cache_workflow, fresh_seed, txt2img

pytestmark = pytest.mark.comfyui
if not os.environ.get("REAL_COMFYUI_URL"):
    pytest.skip("REAL_COMFYUI_URL is not set (run `make test-comfyui`)", allow_module_level=True)


def recorded(name: str) -> Recording:
    data = json.loads((TRANSCRIPTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return Recording(
        data["workflow"], data["post_status"], data["post_body"], data["messages"], data["history"], data["times"]
    )


def collapsed_types(recording: Recording) -> list[str]:
    """Every message type in order, a run of `status` broadcasts counted once (their count is timing)."""
    types: list[str] = []
    for message in recording.messages:
        if not (message["type"] == "status" and types and types[-1] == "status"):
            types.append(message["type"])
    return types


def after_outcome(recording: Recording) -> list[str]:
    """The types of the messages that follow the run's outcome, in order."""
    ends = ("execution_success", "execution_interrupted", "execution_error")
    types = [m["type"] for m in recording.messages]
    return types[next(i for i, kind in enumerate(types) if kind in ends) + 1 :]


def assert_like(real: Recording, transcript: Recording) -> None:
    assert real.post_status == transcript.post_status == 200, real.post_body
    assert collapsed_types(real) == collapsed_types(transcript)
    assert message_sequence(real) == message_sequence(transcript)
    for kind in ("progress", "execution_cached", "executing", "executed"):
        mine = [m["data"] for m in run_messages(real) if m["type"] == kind]
        theirs = [m["data"] for m in run_messages(transcript) if m["type"] == kind]
        keep = {"node", "value", "max", "nodes"}
        assert [{k: v for k, v in d.items() if k in keep} for d in mine] == [
            {k: v for k, v in d.items() if k in keep} for d in theirs
        ], kind
    entry, recorded_entry = real.history[real.prompt_id], transcript.history[transcript.prompt_id]
    assert shape(entry) == shape(recorded_entry)
    assert entry["status"]["status_str"] == recorded_entry["status"]["status_str"]
    assert after_outcome(real) == after_outcome(transcript), "the run ends as the transcript does after its outcome"


async def test_the_test_checkpoint_is_installed(real_comfyui_url):
    async with (
        aiohttp.ClientSession(timeout=CALL_TIMEOUT) as session,
        session.get(f"{real_comfyui_url}/object_info/CheckpointLoaderSimple") as answer,
    ):
        info = await answer.json()
    assert CHECKPOINT in info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]


async def test_a_fresh_sampler_run_and_a_partly_cached_one_match_the_transcripts(real_comfyui_url):
    await record_run(real_comfyui_url, evict_cache_workflow())
    fresh = await record_run(real_comfyui_url, txt2img(seed=fresh_seed(), steps=STEPS))
    partly_cached = await record_run(real_comfyui_url, txt2img(seed=fresh_seed(), steps=STEPS))

    assert_like(fresh, recorded("sampler_success"))
    assert_like(partly_cached, recorded("sampler_partial_cache"))
    progress = [m["data"]["value"] for m in run_messages(fresh) if m["type"] == "progress"]
    assert progress == list(range(1, STEPS + 1))


async def test_an_interrupted_sampler_matches_the_transcript(real_comfyui_url):
    await record_run(real_comfyui_url, txt2img(seed=fresh_seed(), steps=1))  # the loader and encoders cached

    async def interrupt(message: dict, session: aiohttp.ClientSession) -> None:
        await interrupt_at_step(message, session, real_comfyui_url)

    real = await record_run(
        real_comfyui_url, txt2img(seed=fresh_seed(), steps=INTERRUPT_STEPS), timeout=120, on_message=interrupt
    )
    steps = [m["data"]["value"] for m in run_messages(real) if m["type"] == "progress"]
    assert steps[:INTERRUPT_AT_STEP] == list(range(1, INTERRUPT_AT_STEP + 1))
    assert len(steps) <= INTERRUPT_AT_STEP + 2, f"the sampler went on after the interrupt: {steps}"
    assert_like(without_steps_after(real, INTERRUPT_AT_STEP), recorded("sampler_interrupt"))
    interrupted = next(m["data"] for m in run_messages(real) if m["type"] == "execution_interrupted")
    assert (interrupted["node_id"], interrupted["node_type"]) == (SAMPLER_NODE, "KSampler")


def without_steps_after(recording: Recording, last: int) -> Recording:
    """The recording without the sampler steps after `last` (one may finish while the interrupt is on its way)."""

    def later_step(message: dict) -> bool:
        data = message.get("data") or {}
        if message["type"] == "progress":
            return data["value"] > last
        if message["type"] == "progress_state":
            sampler = data["nodes"].get(SAMPLER_NODE) or {}
            return sampler.get("state") == "running" and sampler.get("value", 0) > last
        return False

    kept = [(m, t) for m, t in zip(recording.messages, recording.times, strict=True) if not later_step(m)]
    return Recording(
        recording.workflow, recording.post_status, recording.post_body, [m for m, _ in kept], recording.history,
        [t for _, t in kept],
    )  # fmt: skip
