"""Many emulated GPU backends in one process, each recording when it emitted what.

`python -m bench.emulators --count N --step-ms S` serves N independent emulators (one
executor each, like one ComfyUI per GPU) on free loopback ports and prints their URLs as one
JSON line. Besides ComfyUI's routes every one of them answers:

* `GET /bench/emits`: `[[prompt_id, node, value, unix_time], ...]`, the first moment each
  sampler step of each prompt was sent (the start of the relay-latency clock);
* `GET /bench/runs`: `[[backend_index, prompt_id, start_ms, end_ms, status], ...]`, every
  finished execution (the busy time of each backend for the dispatch figures); `--runs-log`
  also appends them to a file, which outlives a killed emulator (tests/faults).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from comfyweb.emulator.config import EmulatorConfig
from comfyweb.emulator.server import STATE_KEY, build_app

EMITS: dict[tuple[str, str, float], float] = {}
RUNS: list[list] = []
RUNS_LOG: list = []  # an open file when --runs-log is given: one JSON line per finished execution


class RecordingHistory(dict):
    """The emulator's history: every finished execution is also noted in RUNS."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def __setitem__(self, prompt_id: str, entry: dict) -> None:
        super().__setitem__(prompt_id, entry)
        times = {kind: data.get("timestamp") for kind, data in entry["status"].get("messages", [])}
        start = times.get("execution_start")
        end = times.get("execution_success") or times.get("execution_error") or times.get("execution_interrupted")
        run = [self.index, prompt_id, start, end, entry["status"].get("status_str")]
        RUNS.append(run)
        for log in RUNS_LOG:  # unbuffered: a SIGKILL loses no finished execution
            log.write((json.dumps(run) + "\n").encode())


def record_sends(state) -> None:
    """Wrap the state's send so each sampler step's first emission is time-stamped."""
    send = state.send

    async def recording_send(kind: str, data: dict, sid: str | None = None) -> None:
        now = time.time()
        if kind == "progress":
            EMITS.setdefault((data["prompt_id"], str(data["node"]), float(data["value"])), now)
        elif kind == "progress_state":
            for node_id, node in data["nodes"].items():
                if node.get("state") == "running" and node.get("max", 0) > 1:
                    EMITS.setdefault((data["prompt_id"], str(node_id), float(node["value"])), now)
        await send(kind, data, sid)

    state.send = recording_send


async def get_emits(request: web.Request) -> web.Response:
    return web.json_response([[p, n, v, t] for (p, n, v), t in EMITS.items()])


async def get_runs(request: web.Request) -> web.Response:
    return web.json_response(RUNS)


async def serve(count: int, step_ms: int, root: Path, port: int = 0, preview_method: str = "none") -> None:
    runners, urls = [], []
    for index in range(count):
        config = EmulatorConfig(
            port=0, step_ms=step_ms, preview_method=preview_method, output_dir=root / f"emu-{index}" / "output"
        )
        app = build_app(config)
        state = app[STATE_KEY]
        state.history = RecordingHistory(index)
        record_sends(state)
        app.router.add_get("/bench/emits", get_emits)
        app.router.add_get("/bench/runs", get_runs)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port if count == 1 else 0, backlog=1024)
        await site.start()
        urls.append(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")
        runners.append(runner)
    print(json.dumps({"urls": urls}), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    for runner in runners:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--step-ms", type=int, default=50)
    parser.add_argument("--root", type=Path, default=None, help="folder for the emulators' files")
    parser.add_argument("--port", type=int, default=0, help="with --count 1: listen here (a restart keeps its URL)")
    parser.add_argument("--runs-log", type=Path, default=None, help="append every finished execution here")
    parser.add_argument("--preview-method", default="none", help="like ComfyUI's: anything but none sends previews")
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-emulators-"))
    if args.runs_log:
        RUNS_LOG.append(args.runs_log.open("ab", buffering=0))
    asyncio.run(serve(args.count, args.step_ms, root, args.port, args.preview_method))


if __name__ == "__main__":
    sys.exit(main())
