"""Relay latency: emulator emits a sampler step → a browser-like WebSocket client of the web process has it.

The emulators stamp the first emission of every step (bench.emulators); a watcher per job
stamps each frame on arrival. A frame's latency is measured against the newest step it shows;
frames that show no new step (the first snapshot, final states) are not events and are skipped.
The runner persists and relays at most every PERSIST_INTERVAL per job, so steps in between are
coalesced into the next frame: `staleness` says how old the newest step a browser shows can be.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import psutil
import websockets
from asgiref.sync import sync_to_async

from bench.common import SAMPLER_NODE, Workspace, held_jobs, new_sessions, percentile, release_jobs
from bench.procs import Emulators, WebProcess, python, stop

FINAL = ("succeeded", "failed", "cancelled")


async def watch(url: str, session_key: str, frames: list, connected: asyncio.Semaphore, ready: list) -> None:
    headers = {"Cookie": f"sessionid={session_key}", "Origin": "http://127.0.0.1"}
    async with connected:
        socket = await websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=120)
    async with socket:
        first = True
        async for raw in socket:
            frames.append((time.time(), raw))
            if first:
                ready.append(1)
                first = False
            if json.loads(raw)["job"]["status"] in FINAL:
                return


def steady_window(emits: dict, job_ids: set[str]) -> tuple[float, float]:
    """From the moment every job emitted its first step to the moment the first job emitted its last."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for (job_id, _node, _value), emitted in emits.items():
        if job_id in job_ids:
            first[job_id] = min(first.get(job_id, emitted), emitted)
            last[job_id] = max(last.get(job_id, emitted), emitted)
    if not first:
        return 0.0, 0.0
    return max(first.values()), min(last.values())


def latencies(
    frames_by_job: dict[str, list], emits: dict, window: tuple[float, float] | None = None
) -> tuple[list[float], int]:
    """Seconds from each newly shown step's emission to the frame's arrival; and frames without a stamp.

    With `window`, only steps emitted inside it count (all jobs running at once).
    """
    values, unmatched = [], 0
    for job_id, frames in frames_by_job.items():
        shown = 0.0
        for received, raw in frames[1:]:
            job = json.loads(raw)["job"]
            if job["status"] != "running":
                continue
            value = float((job.get("nodes") or {}).get(SAMPLER_NODE, {}).get("value") or 0)
            if value <= shown:
                continue
            shown = value
            emitted = emits.get((job_id, SAMPLER_NODE, value))
            if emitted is None:
                unmatched += 1
                continue
            if window is None or window[0] <= emitted <= window[1]:
                values.append(received - emitted)
    return values, unmatched


def sample_cpu(processes: list[psutil.Process], samples: list, stop_event: asyncio.Event):
    async def loop() -> None:
        for process in processes:
            process.cpu_percent(None)
        while not stop_event.is_set():
            await asyncio.sleep(1)
            samples.append([process.cpu_percent(None) for process in processes])

    return loop()


async def measure(web: WebProcess, jobs: list, sessions_by_job: dict, timeout: float) -> tuple[dict, float]:
    frames_by_job: dict[str, list] = {str(job.pk): [] for job in jobs}
    connected, ready = asyncio.Semaphore(100), []
    base = web.url.replace("http://", "ws://")
    watchers = [
        asyncio.create_task(watch(f"{base}/ws/jobs/{job_id}/", sessions_by_job[job_id], frames, connected, ready))
        for job_id, frames in frames_by_job.items()
    ]
    deadline = time.monotonic() + 120
    while len(ready) < len(watchers) and time.monotonic() < deadline:
        failed = [task for task in watchers if task.done() and task.exception()]
        if failed:
            raise failed[0].exception()
        await asyncio.sleep(0.05)
    started = time.monotonic()
    await sync_to_async(release_jobs)()
    _done, pending = await asyncio.wait(watchers, timeout=timeout)
    for task in pending:
        task.cancel()
    return frames_by_job, time.monotonic() - started


def profile_wrap(role: str) -> list[str] | None:
    """BENCH_PROFILE=web|worker:<file> runs that process under py-spy (raw collapsed stacks)."""
    import sys
    from pathlib import Path

    wanted = os.environ.get("BENCH_PROFILE", "")
    if not wanted.startswith(role + ":"):
        return None
    spy = str(Path(sys.executable).parent / "py-spy")
    # --nonblocking: pausing a busy process 200 times a second would change what is measured
    return [spy, "record", "--nonblocking", "-r", "200", "-f", "raw", "-o", wanted.split(":", 1)[1], "--"]


def run(*, topology: str, jobs: int, steps: int, step_ms: int, **_options) -> dict:
    """One concurrency level: `jobs` jobs at once, each on its own emulated GPU."""
    space = Workspace(topology)
    space.setup_django()
    emulators = Emulators(jobs, step_ms, space.root / "emulators", log=space.log("emulators"))
    processes = []
    try:
        env = {**space.env, "GPU_BACKENDS": emulators.gpu_backends(1)}
        web = WebProcess(env, space.log("web"), worker=topology == "embedded", wrap=profile_wrap("web"))
        processes.append(web.process)
        watched = [psutil.Process(web.pid), psutil.Process(emulators.process.pid), psutil.Process()]
        if topology == "scaled":
            worker = python("manage.py", "runjobs", env=env, log=space.log("worker"), wrap=profile_wrap("worker"))
            processes.append(worker)
            watched.append(psutil.Process(worker.pid))
        sessions = new_sessions(max(1, jobs // 10))
        created = held_jobs(steps, sessions, jobs)
        sessions_by_job = {str(job.pk): job.session_key for job in created}

        async def scenario():
            stop_event, cpu = asyncio.Event(), []
            sampler = asyncio.create_task(sample_cpu(watched, cpu, stop_event))
            result = await measure(web, created, sessions_by_job, timeout=steps * step_ms / 1000 * 4 + 20)
            stop_event.set()
            await sampler
            return (*result, cpu)

        frames_by_job, elapsed, cpu = asyncio.run(scenario())
        emits = emulators.emits()
        everything, unmatched = latencies(frames_by_job, emits)
        window = steady_window(emits, set(frames_by_job))
        values, _ = latencies(frames_by_job, emits, window)
        finished = sum(1 for frames in frames_by_job.values() if frames and json.loads(frames[-1][1])["job"]["status"]
                       in FINAL)  # fmt: skip
        busy = [max(sample[i] for sample in cpu) if cpu else 0 for i in range(len(watched))]
        mean = [sum(sample[i] for sample in cpu) / len(cpu) if cpu else 0 for i in range(len(watched))]
        from django.db.models import Count

        from comfyweb.jobs.models import Job

        statuses = dict(Job.objects.values_list("status").annotate(n=Count("id")))
        return {
            "jobs": jobs,
            "statuses": statuses,
            "finished": finished,
            "samples": len(values),
            "steady_seconds": window[1] - window[0],
            "all_samples": len(everything),
            "all_p50_ms": percentile(everything, 50) * 1000,
            "all_p99_ms": percentile(everything, 99) * 1000,
            "unmatched": unmatched,
            "p50_ms": percentile(values, 50) * 1000,
            "p99_ms": percentile(values, 99) * 1000,
            "max_ms": max(values) * 1000 if values else float("nan"),
            "seconds": elapsed,
            "cpu_mean": mean,
            "cpu_max": busy,
            "processes": ["web+dispatcher" if topology == "embedded" else "web", "emulators", "bench clients"]
            + (["runjobs"] if topology == "scaled" else []),
        }
    finally:
        for process in processes:
            stop(process, signal.SIGINT)
        emulators.stop()
        space.close()


TARGET_P99_MS = 20.0


def figures(level: int, jobs: int, result: dict) -> list:
    """p50 (informative) and p99 (the target applies at 500 jobs) for one concurrency level."""
    from bench.report import Figure

    name = f"relay latency, {jobs} concurrent job{'s' if jobs != 1 else ''}"
    if "error" in result:
        return [Figure.failed(name, result)]
    if result.get("p99_ms") is None:
        return [Figure(name, "no frames while all jobs ran", "", None, None, note=json.dumps(result)[:400])]
    note = (
        f"{result['samples']} frames while all jobs ran ({result['finished']}/{jobs} jobs watched to the end); "
        f"whole run incl. start-up p50 {result['all_p50_ms']:.1f} ms, p99 {result['all_p99_ms']:.1f} ms; "
        "CPU % mean/max: "
        + ", ".join(
            f"{name} {mean:.0f}/{peak:.0f}"
            for name, mean, peak in zip(result["processes"], result["cpu_mean"], result["cpu_max"], strict=False)
        )
    )
    limit = TARGET_P99_MS if level == 500 else None
    return [
        Figure(f"{name}: p50", f"{result['p50_ms']:.1f} ms", "", result["p50_ms"], None),
        Figure(
            f"{name}: p99",
            f"{result['p99_ms']:.1f} ms",
            "≤ 20 ms p99 at 500 jobs" if limit else "",
            result["p99_ms"],
            limit,
            note=note,
        ),
    ]
