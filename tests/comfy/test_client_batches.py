"""Batched socket reads (`coalesce=True`, the web worker's runners): fewer progress calls, no step lost.

What the socket has buffered is folded together and reported once; before a node starts, the changes so
far are reported first, so a sampler's last step is always handed over before the next node runs.
"""

from __future__ import annotations

import json

from comfyweb.comfy.client import ComfyClient
from comfyweb.comfy.progress import new_progress
from tests.prompts import sampler_workflow

PROMPT_ID = "p-1"


def frame(kind: str, **data) -> str:
    return json.dumps({"type": kind, "data": {"prompt_id": PROMPT_ID, **data}})


async def fold(batch: list[str]) -> tuple[list[dict], bool]:
    """The states handed to on_progress for one batch, and whether the batch ended the run."""
    seen: list[dict] = []

    async def on_progress(progress: dict) -> None:
        seen.append(json.loads(json.dumps(progress)))

    prompt = sampler_workflow(steps=5)
    progress = new_progress(prompt, PROMPT_ID)
    async with ComfyClient("http://127.0.0.1:9") as comfy:
        ended = await comfy._messages(batch, PROMPT_ID, progress, on_progress, None)
    return seen, ended


async def test_a_batch_of_steps_is_reported_once_with_the_newest_step():
    steps = [frame("progress", node="3", value=value, max=5) for value in range(1, 5)]
    seen, ended = await fold([frame("execution_start"), frame("executing", node="3"), *steps])
    assert not ended
    assert [state["3"]["value"] for state in seen] == [0, 4]  # once before node 3 starts, once for the batch


async def test_the_last_step_of_a_node_is_reported_before_the_next_node_starts():
    batch = [frame("executing", node="3"), *(frame("progress", node="3", value=v, max=5) for v in range(1, 6))]
    seen, _ended = await fold([*batch, frame("executing", node="8"), frame("executed", node="8", output={})])
    before_next = [state for state in seen if state[""]["node"] == "3"]
    assert before_next and before_next[-1]["3"]["value"] == 5
    assert seen[-1][""]["node"] == "8"
    assert len(seen) == 2  # node 3 up to 5/5 before node 8 starts, then the rest of the batch


async def test_the_end_of_the_run_stops_the_batch():
    seen, ended = await fold([frame("executing", node="3"), frame("execution_success"), frame("executing", node="8")])
    assert ended
    assert all(state[""]["node"] != "8" for state in seen)


async def test_a_coalesced_run_shows_every_nodes_last_step(emulator):
    """Against the emulator: the run succeeds, and the sampler's 20/20 reached on_progress."""
    seen: list[tuple[str | None, int]] = []

    async def on_progress(progress: dict) -> None:
        seen.append((progress[""].get("node"), (progress.get("3") or {}).get("value", 0)))

    async with ComfyClient(emulator.url) as comfy:
        result = await comfy.run(sampler_workflow(steps=20), on_progress=on_progress, coalesce=True)
    assert result.status == "succeeded"
    assert (("3", 20) in seen) or any(node != "3" and value == 20 for node, value in seen)
    assert len(seen) <= 20 + 10  # at most one call per message of the run (20 steps and a few node changes)
