"""Agent overhead: one workflow run directly against ComfyUI's API and through the GPU agent.

The same 1-second txt2img graph (10 sampler steps of 100 ms on one emulated GPU) runs in
rounds; each round runs it once directly (`POST /prompt` + `/ws`, our ComfyClient), once
through the agent's `POST /api/run` and once through `/api/run/ws`, in a rotating order so
drift in the machine touches every path alike. Each run has its own seed: the emulator, like
ComfyUI, would otherwise answer a repeat from its cache.

Per-event latency is the time from the emulator sending a sampler step to the client receiving
the progress that shows it. The agent's added latency is taken event by event: each step of a
round's run through `/api/run/ws` is paired with the same step of that round's direct run, and
the figures are percentiles of those differences (not differences of percentiles).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx
import websockets

from bench.common import SAMPLER_NODE, percentile, sampler_prompt, scaled
from bench.procs import AgentProcess, Emulators

ROUNDS = 20
STEPS, STEP_MS = 10, 100  # a 1-second workflow on the emulated GPU
MODES = ("direct", "api_run", "api_run_ws")
TARGET_RATIO = 1.05
TARGET_ADDED_P50_MS = 5.0

Receipts = list[tuple[int, str, float, float]]  # (round, prompt_id, sampler step, unix time the client saw it)


def run(*, scale: float = 1.0, **_options) -> dict:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    emulators = Emulators(1, STEP_MS, root / "emulators", log=root / "emulators.log")
    try:
        agent = AgentProcess(emulators.urls[0], root)
        try:
            return asyncio.run(measure(emulators, agent.url, scaled(ROUNDS, scale, 3)))
        finally:
            agent.stop()
    finally:
        emulators.stop()


async def measure(emulators: Emulators, agent_url: str, rounds: int) -> dict:
    from comfyweb.comfy.client import ComfyClient

    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    receipts: dict[str, Receipts] = {"direct": [], "api_run_ws": []}
    current = [-1]  # the round being run (-1: warming up)
    failures: list[str] = []
    seed = 1000
    async with ComfyClient(emulators.urls[0]) as comfy, httpx.AsyncClient(timeout=120, trust_env=False) as http:
        runners = {
            "direct": lambda prompt: run_direct(comfy, prompt, receipts["direct"], current[0]),
            "api_run": lambda prompt: run_api(http, agent_url, prompt),
            "api_run_ws": lambda prompt: run_api_ws(agent_url, prompt, receipts["api_run_ws"], current[0]),
        }
        await runners["direct"](sampler_prompt(STEPS, seed=1))  # warm both paths up before measuring
        await runners["api_run"](sampler_prompt(STEPS, seed=2))
        receipts["direct"].clear()
        for index in range(rounds):
            current[0] = index
            order = MODES[index % 3 :] + MODES[: index % 3]
            for mode in order:
                seed += 1
                started = time.monotonic()
                error = await runners[mode](sampler_prompt(STEPS, seed=seed))
                if error:
                    failures.append(f"{mode}: {error}")
                else:
                    walls[mode].append(time.monotonic() - started)
    emitted = emulators.emits()
    latency = {mode: event_latencies(rows, emitted) for mode, rows in receipts.items()}
    direct = statistics.median(walls["direct"]) if walls["direct"] else float("nan")
    result: dict = {"rounds": rounds, "steps": STEPS, "step_ms": STEP_MS, "failures": failures[:10]}
    for mode in MODES:
        median = statistics.median(walls[mode]) if walls[mode] else float("nan")
        result[f"{mode}_runs"] = len(walls[mode])
        result[f"{mode}_median_s"] = median
        result[f"{mode}_ratio"] = median / direct
    for mode, values in latency.items():
        result[f"{mode}_events"] = len(values)
        result[f"{mode}_event_p50_ms"] = percentile(list(values.values()), 50)
        result[f"{mode}_event_p99_ms"] = percentile(list(values.values()), 99)
    added = added_latencies(latency["direct"], latency["api_run_ws"])
    result["added_events"] = len(added)
    result["added_event_p50_ms"] = percentile(added, 50)
    result["added_event_p99_ms"] = percentile(added, 99)
    result["added_event_max_ms"] = max(added, default=float("nan"))
    return result


def added_latencies(direct: dict, via_agent: dict) -> list[float]:
    """Per event: its latency through the agent minus the same (round, step)'s latency direct."""
    return [via_agent[key] - direct[key] for key in sorted(via_agent.keys() & direct.keys())]


def event_latencies(rows: Receipts, emitted: dict[tuple[str, str, float], float]) -> dict[tuple[int, float], float]:
    """(round, step) -> milliseconds from the emulator sending that step to the client first seeing it."""
    seen: dict[tuple[int, str, float], float] = {}
    for round_index, prompt_id, value, at in rows:
        seen.setdefault((round_index, prompt_id, value), at)
    return {
        (round_index, value): (at - emitted[(prompt_id, SAMPLER_NODE, value)]) * 1000
        for (round_index, prompt_id, value), at in seen.items()
        if round_index >= 0 and (prompt_id, SAMPLER_NODE, value) in emitted
    }


def note_step(progress: dict, receipts: Receipts, round_index: int) -> None:
    node = progress.get(SAMPLER_NODE) or {}
    prompt_id = (progress.get("") or {}).get("prompt_id")
    if prompt_id and node.get("max", 0) > 1 and node.get("value"):
        receipts.append((round_index, prompt_id, float(node["value"]), time.time()))


async def run_direct(comfy, prompt: dict, receipts: Receipts, round_index: int) -> str:
    async def on_progress(progress: dict) -> None:
        note_step(progress, receipts, round_index)

    result = await comfy.run(prompt, on_progress=on_progress, timeout=120)
    status = result.progress[""].get("status")
    return "" if status == "succeeded" else f"status {status}"


async def run_api(http: httpx.AsyncClient, agent_url: str, prompt: dict) -> str:
    response = await http.post(f"{agent_url}/api/run", json=prompt)
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    status = response.json()[""].get("status")
    return "" if status == "succeeded" else f"status {status}"


async def run_api_ws(agent_url: str, prompt: dict, receipts: Receipts, round_index: int) -> str:
    url = agent_url.replace("http://", "ws://", 1) + "/api/run/ws"
    async with websockets.connect(url, max_size=None) as socket:
        await socket.send(json.dumps(prompt))
        async for text in socket:
            frame = json.loads(text)
            if frame["type"] == "progress":
                note_step(frame["data"], receipts, round_index)
            elif frame["type"] == "result":
                return ""
            else:
                return f"{frame['type']}: {json.dumps(frame['data'])[:200]}"
    return "the agent closed the socket before the result"


def figures(result: dict) -> list:
    from bench.report import Figure

    name = "agent overhead, 1-second workflow"
    if "error" in result:
        return [Figure.failed(name, result)]
    note = (
        f"{result['rounds']} rounds of {result['steps']} steps x {result['step_ms']} ms; median wall time direct "
        f"{result['direct_median_s'] * 1000:.0f} ms, /api/run {result['api_run_median_s'] * 1000:.0f} ms, "
        f"/api/run/ws {result['api_run_ws_median_s'] * 1000:.0f} ms"
        + (f"; failures: {result['failures']}" if result["failures"] else "")
    )
    events = (
        f"{result['added_events']} events paired (the same step of the same round, via /api/run/ws and direct; "
        f"{result['api_run_ws_events']} via the agent, {result['direct_events']} direct); percentiles of the "
        f"per-event differences, max {result['added_event_max_ms']:.1f} ms; event latency direct "
        f"p50 {result['direct_event_p50_ms']:.1f} ms / p99 {result['direct_event_p99_ms']:.1f} ms, via /api/run/ws "
        f"p50 {result['api_run_ws_event_p50_ms']:.1f} ms / p99 {result['api_run_ws_event_p99_ms']:.1f} ms"
    )
    return [
        Figure(
            f"{name}: /api/run wall time / direct",
            f"{result['api_run_ratio']:.3f}x",
            "≤ 1.05x",
            result["api_run_ratio"],
            TARGET_RATIO,
            note=note,
        ),
        Figure(
            f"{name}: /api/run/ws wall time / direct",
            f"{result['api_run_ws_ratio']:.3f}x",
            "≤ 1.05x",
            result["api_run_ws_ratio"],
            TARGET_RATIO,
        ),
        Figure(
            "agent: added latency per progress event, p50",
            f"{result['added_event_p50_ms']:.1f} ms",
            "≤ 5 ms",
            result["added_event_p50_ms"],
            TARGET_ADDED_P50_MS,
            note=events,
        ),
        Figure(
            "agent: added latency per progress event, p99", f"{result['added_event_p99_ms']:.1f} ms", "", None, None
        ),
    ]
