"""Record the sampler transcripts under tests/fixtures/comfyui/ from a real ComfyUI with the test checkpoint.

    bash tests/contract/run_real_comfyui.sh --record     # builds, starts ComfyUI, runs this, stops it

or, against a ComfyUI already running with make_checkpoint.py's checkpoint in its models/checkpoints/:

    .venv/bin/python -m tests.contract.record_transcripts --url http://127.0.0.1:8188

Each file is a `tests.contract.protocol.Recording` as JSON (the format of the other 0.3.75 transcripts:
workflow, post_status, post_body, messages, history) plus `times`: the seconds from the WebSocket's opening
to each message's arrival, so the gaps between messages (a step, the end of a run) are on record too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import aiohttp

from tests.contract.protocol import CALL_TIMEOUT, Recording, record_run
from tests.contract.sampler import SAMPLER_NODE, evict_cache_workflow, txt2img

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui"
STEPS = 4
INTERRUPT_STEPS = 400
INTERRUPT_AT_STEP = 3

NOTES = {
    "sampler_success": "txt2img 64x64, KSampler euler 4 steps, every node run (the cache was emptied before)",
    "sampler_partial_cache": (
        "the same prompt right after with another seed: loader, text encoders and latent cached; "
        "KSampler, VAEDecode and SaveImage run"
    ),
    "sampler_interrupt": f"POST /interrupt on `progress` {INTERRUPT_AT_STEP} of a {INTERRUPT_STEPS}-step KSampler",
}


def as_json(recording: Recording, name: str, version: str) -> dict:
    return {
        "notes": NOTES[name],
        "comfyui_version": version,
        "workflow": recording.workflow,
        "post_status": recording.post_status,
        "post_body": recording.post_body,
        "messages": recording.messages,
        "times": recording.times,
        "history": recording.history,
    }


async def interrupt_at_step(message: dict, session: aiohttp.ClientSession, url: str) -> None:
    data = message.get("data") or {}
    if message.get("type") == "progress" and data.get("value") == INTERRUPT_AT_STEP:
        async with session.post(f"{url}/interrupt", json={}) as answer:
            answer.raise_for_status()


async def record_all(url: str) -> dict[str, dict]:
    async with aiohttp.ClientSession(timeout=CALL_TIMEOUT) as session, session.get(f"{url}/system_stats") as answer:
        version = (await answer.json())["system"]["comfyui_version"]
    recordings: dict[str, Recording] = {}
    await record_run(url, evict_cache_workflow())
    recordings["sampler_success"] = await record_run(url, txt2img(seed=1001, steps=STEPS, prefix="sampler"))
    recordings["sampler_partial_cache"] = await record_run(url, txt2img(seed=1002, steps=STEPS, prefix="sampler"))
    interrupted = txt2img(seed=1003, steps=INTERRUPT_STEPS, prefix="sampler")
    recordings["sampler_interrupt"] = await record_run(
        url, interrupted, timeout=120, on_message=lambda message, session: interrupt_at_step(message, session, url)
    )
    for name, recording in recordings.items():
        if recording.post_status != 200 or not recording.history:
            raise SystemExit(f"{name}: the run did not complete: {recording.post_status} {recording.post_body}")
    progress = [m["data"]["value"] for m in recordings["sampler_success"].messages if m["type"] == "progress"]
    if progress != list(range(1, STEPS + 1)):
        raise SystemExit(f"sampler_success: progress {progress}, not 1..{STEPS} (is the checkpoint installed?)")
    if not any(m["type"] == "execution_interrupted" for m in recordings["sampler_interrupt"].messages):
        raise SystemExit("sampler_interrupt: no execution_interrupted message")
    assert SAMPLER_NODE in recordings["sampler_success"].workflow
    return {name: as_json(recording, name, version) for name, recording in recordings.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the real ComfyUI's base URL")
    parser.add_argument("--out", type=Path, default=FIXTURES, help=f"folder to write to (default {FIXTURES})")
    options = parser.parse_args(argv)
    transcripts = asyncio.run(record_all(options.url.rstrip("/")))
    options.out.mkdir(parents=True, exist_ok=True)
    for name, transcript in transcripts.items():
        path = options.out / f"{name}.json"
        path.write_text(json.dumps(transcript, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path} ({len(transcript['messages'])} messages)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
