"""Relay staleness: how long after an emulator emits a sampler step a browser-like client of the web app holds it.

For every sampler step an emulator emits (t_emit: the emulator's own stamp of its first emission,
bench.emulators), t_shown is the first moment the job's browser-like WebSocket client received a
frame whose sampler value is that step or a later one (any status: the final snapshot counts);
staleness = t_shown - t_emit. Every step of every job of the whole run counts, start-up included:
nothing is cut to a steady window and nothing is filtered. A step the client never came to hold
(its socket never connected, its frames never arrived, the run timed out) has infinite staleness,
so it weighs in the percentiles, and it lowers the share of steps shown.

The client behaves like the job page (static/js/site.js `follow`): one WebSocket per job, reconnect
with the page's back-off (0.5 s doubling to 10 s) after a failed connect or a close, stop at a final
status. Costs: CPU time (user + system) of the worker and the web process over the run, divided
by the sampler steps emitted. In the embedded topology web and worker are one process (`manage.py
serve`), so both figures are that one process. The emulators send a latent preview with every step
(as ComfyUI with `--preview-method auto`), so the costs include the preview path (made small and
relayed at most twice a second per job).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import time
from bisect import bisect_left

import psutil
import websockets
from asgiref.sync import sync_to_async

from bench.common import SAMPLER_NODE, Workspace, held_jobs, new_sessions, percentile
from bench.procs import Emulators, WebProcess, python, stop

FINAL = ("succeeded", "failed", "cancelled")
OPEN_AT_ONCE = 100  # handshakes in flight at once (the pages of a launch do not all open in the same millisecond)
CONNECT_SECONDS = 120  # how long the clients get to connect before the jobs are released (they go on trying)
HOLD_AHEAD = 2.0  # seconds: the jobs' not_before is kept this far ahead while the clients connect

# (unix time received, sampler value shown) of every frame a client received, in arrival order
Frames = list[tuple[float, float]]


# --- the computation (pure) ------------------------------------------------------------------


def staleness(emitted: dict[float, float], frames: Frames) -> list[float]:
    """Seconds from each emitted step (value -> t_emit) to the first frame holding it or a later one; inf if none."""
    times, highs = [], []  # arrivals at which the client first held a higher step than ever before
    for received, value in sorted(frames):
        if not highs or value > highs[-1]:
            times.append(received)
            highs.append(value)
    out = []
    for value, at in emitted.items():
        index = bisect_left(highs, value)
        out.append(times[index] - at if index < len(highs) else math.inf)
    return out


def percentile_inf(values: list[float], q: float) -> float:
    """common.percentile, where a never-shown step (inf) is larger than any other."""
    finite = sorted(value for value in values if math.isfinite(value))
    if len(finite) == len(values):
        return percentile(finite, q)
    rank = (len(values) - 1) * q / 100
    if math.ceil(rank) >= len(finite):
        return math.inf
    return percentile(finite + [finite[-1]] * (len(values) - len(finite)), q)


def summarize(emits: dict[str, dict[float, float]], frames: dict[str, Frames], final_step: float) -> dict:
    """Staleness over every emitted step of every job in `frames` (a job's steps: emits[job], value -> t_emit).

    `frames` names every job of the run, also those whose client never received anything.
    """
    values: list[float] = []
    final_shown = 0
    for job_id, received in frames.items():
        values += staleness(emits.get(job_id, {}), received)
        final_shown += any(value >= final_step for _at, value in received)
    shown = [value for value in values if math.isfinite(value)]
    return {
        "steps_emitted": len(values),
        "steps_shown": len(shown),
        "shown_share": len(shown) / len(values) if values else 0.0,
        "final_shown": final_shown,
        "final_shown_share": final_shown / len(frames) if frames else 0.0,
        "p50_ms": percentile_inf(values, 50) * 1000 if values else math.inf,
        "p99_ms": percentile_inf(values, 99) * 1000 if values else math.inf,
        "max_ms": max(values) * 1000 if values else math.inf,
        "shown_max_ms": max(shown) * 1000 if shown else math.nan,
    }


def selftest() -> None:
    """The computation on a hand-worked example (`python -m bench --selftest`)."""
    near = lambda a, b: abs(a - b) < 1e-9  # noqa: E731
    # steps 1..3 emitted at 10.0/10.1/10.2; frames show 1 at 10.05, then (coalesced) 3 at 10.32
    got = staleness({1.0: 10.0, 2.0: 10.1, 3.0: 10.2}, [(10.05, 1.0), (10.32, 3.0)])
    assert all(map(near, got, [0.05, 0.22, 0.12])), got
    # frames out of order and a regression (an older snapshot after a reconnect) change nothing
    assert all(map(near, staleness({1.0: 0.0, 2.0: 0.0}, [(0.5, 2.0), (0.3, 1.0), (0.7, 1.0)]), [0.3, 0.5]))
    assert staleness({1.0: 0.0, 2.0: 1.0}, [(0.2, 1.0)])[1] == math.inf  # step 2 never held
    # job b never connected: its steps are never shown and its final step counts as missed
    summary = summarize({"a": {1.0: 0.0, 2.0: 0.1}, "b": {1.0: 0.0, 2.0: 0.1}}, {"a": [(0.05, 2.0)], "b": []}, 2.0)
    assert summary["steps_emitted"] == 4 and summary["steps_shown"] == 2 and summary["shown_share"] == 0.5
    assert summary["final_shown"] == 1 and summary["final_shown_share"] == 0.5
    assert summary["p99_ms"] == math.inf and summary["max_ms"] == math.inf and near(summary["shown_max_ms"], 50)
    assert near(summarize({"a": {1.0: 0.0}}, {"a": [(0.02, 1.0)]}, 1.0)["p99_ms"], 20)
    assert percentile_inf([1.0, 2.0, 3.0, math.inf], 50) == 2.5 and percentile_inf([1.0, math.inf], 50) == math.inf
    assert percentile_inf([float(i) for i in range(1, 101)], 99) == percentile(list(range(1, 101)), 99)


# --- the measurement -------------------------------------------------------------------------


async def follow(url: str, session_key: str, frames: Frames, state: dict, gate: asyncio.Semaphore) -> None:
    """The job page's `follow()`: hold the newest state, reconnect with its back-off until a final status."""
    headers = {"Cookie": f"sessionid={session_key}", "Origin": "http://127.0.0.1"}
    attempt = 0
    while True:
        try:
            async with gate:
                socket = await websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=60)
            state["connects"] += 1
            async with socket:
                async for raw in socket:
                    received = time.time()
                    frame = json.loads(raw)
                    if frame.get("type") != "job" or not frame.get("job"):
                        continue  # e.g. a preview: not a state the page renders as progress
                    job = frame["job"]
                    frames.append((received, float((job.get("nodes") or {}).get(SAMPLER_NODE, {}).get("value") or 0)))
                    state["snapshot"] = True
                    attempt = 0
                    if job["status"] in FINAL:
                        return
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            state["errors"].append(f"{type(exc).__name__}: {exc}"[:200])
        await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
        attempt += 1


class ProcessGroup:
    """Several processes of one role (the `runjobs` workers), measured as one."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        self.processes = processes

    def cpu_times(self):
        from types import SimpleNamespace

        times = [process.cpu_times() for process in self.processes]
        return SimpleNamespace(user=sum(t.user for t in times), system=sum(t.system for t in times))


def cpu_seconds(process: psutil.Process | ProcessGroup | None) -> float:
    if process is None:
        return math.nan
    times = process.cpu_times()
    return times.user + times.system


def hold_until(moment: float) -> None:
    from datetime import UTC, datetime

    from comfyweb.jobs.models import Job

    Job.objects.filter(status=Job.Status.QUEUED).update(not_before=datetime.fromtimestamp(moment, UTC))


async def measure(web: WebProcess, sessions_by_job: dict, timeout: float, watched: dict) -> dict:
    """Connect every client while the jobs are held, release them, follow them to the end.

    A snapshot of a held job is stamped with its not_before (selectors.state_time) and a page drops
    any update older than what it shows; so the jobs are held by a not_before kept HOLD_AHEAD
    seconds ahead while clients connect, and released by letting the last one pass: every update
    of the run is newer than every snapshot read before it, as for a page opened on a queued job.
    """
    frames: dict[str, Frames] = {job_id: [] for job_id in sessions_by_job}
    states = {job_id: {"connects": 0, "errors": [], "snapshot": False} for job_id in sessions_by_job}
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    base = web.url.replace("http://", "ws://")
    release = time.time() + HOLD_AHEAD
    await sync_to_async(hold_until)(release)
    held_since, cpu_held = time.monotonic(), {name: cpu_seconds(process) for name, process in watched.items()}
    clients = [
        asyncio.create_task(follow(f"{base}/ws/jobs/{job_id}/", session, frames[job_id], states[job_id], gate))
        for job_id, session in sessions_by_job.items()
    ]
    connect_started = time.monotonic()
    while time.monotonic() - connect_started < CONNECT_SECONDS and not all(s["snapshot"] for s in states.values()):
        await asyncio.sleep(0.05)
        if release - time.time() < HOLD_AHEAD - 0.25:
            release = time.time() + HOLD_AHEAD
            await sync_to_async(hold_until)(release)
    connect_seconds = time.monotonic() - connect_started
    connected = sum(1 for s in states.values() if s["snapshot"])
    await asyncio.sleep(max(0.0, release - time.time()))
    cpu_before = {name: cpu_seconds(process) for name, process in watched.items()}
    started = time.monotonic()
    held_share = {name: (cpu_before[name] - spent) / (started - held_since) for name, spent in cpu_held.items()}
    _done, pending = await asyncio.wait(clients, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.monotonic() - started
    cpu = {name: cpu_seconds(process) - cpu_before[name] for name, process in watched.items()}
    errors = [error for s in states.values() for error in s["errors"]]
    return {
        "frames": frames,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "cpu_share_while_held": held_share,
        "held_seconds": started - held_since,  # CPU s per s while the clients connected and the jobs were held
        "connect_seconds": connect_seconds,
        "connected_before_release": connected,
        "unfinished_clients": len(pending),
        "connects": sum(s["connects"] for s in states.values()),
        "connect_errors": len(errors),
        "connect_error_examples": sorted(set(errors))[:3],
    }


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


def measured_process(pid: int) -> psutil.Process:
    """The process whose CPU time counts: under py-spy (--profile), py-spy's child."""
    process = psutil.Process(pid)
    deadline = time.monotonic() + 10
    while process.name().startswith("py-spy") and time.monotonic() < deadline:
        children = process.children()
        if children:
            return children[0]
        time.sleep(0.1)
    return process


def run(*, topology: str, jobs: int, steps: int, step_ms: int, workers: int = 1, **_options) -> dict:
    """One concurrency level: `jobs` jobs at once, each on its own emulated GPU; scaled out, on `workers`
    `runjobs` processes (their CPU is added up: the cost per step of the whole worker tier)."""
    space = Workspace(topology)
    space.setup_django()
    # Previews on, as ComfyUI with --preview-method auto: the relay's cost includes their path (<= 2/s a job).
    emulators = Emulators(jobs, step_ms, space.root / "emulators", log=space.log("emulators"), preview_method="auto")
    processes = []
    try:
        env = {**space.env, "GPU_BACKENDS": emulators.gpu_backends(1)}
        web = WebProcess(env, space.log("web"), worker=topology == "embedded", wrap=profile_wrap("web"))
        processes.append(web.process)
        web_process = measured_process(web.pid)
        worker_processes = [web_process]
        if topology == "scaled":
            started = []
            for index in range(workers):
                wrap = profile_wrap("worker") if index == 0 else None
                started.append(python("manage.py", "runjobs", env=env, log=space.log(f"worker-{index}"), wrap=wrap,
                                      stdout=subprocess.PIPE, text=True))  # fmt: skip
            processes += started
            for worker in started:
                worker.stdout.readline()  # "runjobs worker … started": its start-up is not the idle cost measured
            worker_processes = [measured_process(worker.pid) for worker in started]
        roles = (
            {"web+worker": web_process}
            if topology == "embedded"
            else {"worker": ProcessGroup(worker_processes), "web": web_process}
        )
        watched = {**roles, "emulators": psutil.Process(emulators.process.pid), "bench clients": psutil.Process()}
        sessions = new_sessions(max(1, jobs // 10))
        created = held_jobs(steps, sessions, jobs)
        sessions_by_job = {str(job.pk): job.session_key for job in created}
        timeout = steps * step_ms / 1000 * 4 + 20
        measured = asyncio.run(measure(web, sessions_by_job, timeout, watched))
        frames = measured.pop("frames")
        emits: dict[str, dict[float, float]] = {job_id: {} for job_id in frames}
        for (job_id, node, value), at in emulators.emits().items():
            if node == SAMPLER_NODE and job_id in emits:
                emits[job_id][value] = at
        summary = summarize(emits, frames, float(steps))
        from django.db.models import Count

        from comfyweb.jobs.models import Job

        statuses = dict(Job.objects.values_list("status").annotate(n=Count("id")))
        emitted = summary["steps_emitted"]
        cpu = measured["cpu_seconds"]
        return {
            "topology": topology,
            "workers": workers if topology == "scaled" else 1,
            "jobs": jobs,
            "steps": steps,
            "step_ms": step_ms,
            "statuses": statuses,
            **summary,
            **measured,
            "frames_received": sum(len(received) for received in frames.values()),
            "jobs_without_frames": sum(1 for received in frames.values() if not received),
            "worker_cpu_ms_per_event": cpu[next(iter(roles))] * 1000 / emitted if emitted else math.inf,
            "web_cpu_ms_per_event": cpu[list(roles)[-1]] * 1000 / emitted if emitted else math.inf,
            "one_process": topology == "embedded",
        }
    finally:
        for process in processes:
            stop(process, signal.SIGINT)
        emulators.stop()
        space.close()


# --- the figures -----------------------------------------------------------------------------

TARGET_P99_MS = {100: 150.0, 500: 300.0}  # by concurrency level (at BENCH_SCALE < 1 it runs fewer jobs)
TARGET_FINAL_SHARE = 1.0
TARGET_WORKER_CPU_MS = {500: 0.1}  # by concurrency level (issue 22); 0.2 ms at the others
DEFAULT_WORKER_CPU_MS = 0.2


def worker_cpu_target(level: int) -> float:
    return TARGET_WORKER_CPU_MS.get(level, DEFAULT_WORKER_CPU_MS)


def _number(value) -> float:
    """A figure from the part's JSON, where a step never shown (inf) arrives as null."""
    return math.inf if value is None else float(value)


def _ms(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def missed(level: int, result: dict) -> bool:
    """Did this level miss its staleness target (for --profile)?"""
    limit = TARGET_P99_MS.get(level)
    return limit is not None and ("error" in result or _number(result.get("p99_ms")) > limit)


def figures(level: int, jobs: int, result: dict) -> list:
    """Staleness (p99 against its target), steps shown, final steps shown, CPU per event, for one level."""
    from bench.report import Figure

    rate = 1000 / result.get("step_ms", 100)
    workers = result.get("workers", 1)
    name = f"relay, {jobs} concurrent job{'s' if jobs != 1 else ''} at {rate:g} steps/s" + (
        f", {workers} workers" if workers > 1 else ""
    )
    limit = TARGET_P99_MS.get(level)
    cpu_limit = worker_cpu_target(level)
    if "error" in result:  # the part failed: its targets are missed, not left out
        failed = Figure.failed(name, result)
        return [
            Figure(f"{name}: staleness p99", "failed", f"p99 ≤ {limit:.0f} ms" if limit else "", math.inf, limit,
                   note=failed.note),
            Figure(f"{name}: jobs whose final sampler step was shown", "failed", "100%", 0.0, TARGET_FINAL_SHARE,
                   at_least=True),
            Figure(f"{name}: worker CPU per emitted step", "failed", f"≤ {cpu_limit:g} ms", math.inf, cpu_limit),
        ]  # fmt: skip
    p50, p99, peak = (_number(result[key]) for key in ("p50_ms", "p99_ms", "max_ms"))
    cpu = result["cpu_seconds"]
    seconds = result["seconds"]
    note = (
        f"{jobs} jobs of {result['steps']} sampler steps; {result['steps_emitted']} steps emitted, "
        f"{result['steps_shown']} shown; {result['frames_received']} frames "
        f"received; {result['connected_before_release']}/{jobs} clients had their snapshot before the jobs were "
        f"released ({result['connect_seconds']:.1f} s), {result['connects']} connects, {result['connect_errors']} "
        f"failed{' ' + str(result['connect_error_examples']) if result['connect_error_examples'] else ''}, "
        f"{result['unfinished_clients']} never saw a final status; jobs {result['statuses']}; run {seconds:.1f} s; "
        "CPU over the run (s, mean %): "
        + ", ".join(f"{who} {spent:.1f} ({100 * spent / seconds:.0f}%)" for who, spent in cpu.items())
        + f"; while the jobs were held and the clients connected ({result['held_seconds']:.1f} s), CPU: "
        + ", ".join(f"{who} {100 * share:.0f}%" for who, share in result["cpu_share_while_held"].items())
        + ("; web and worker are one process (embedded topology)" if result["one_process"] else "")
    )
    worker = "web+worker (one process)" if result["one_process"] else "worker" if workers == 1 else "workers' total"
    rows = [
        Figure(
            f"{name}: staleness p50 / p99 / max",
            f"{_ms(p50)} / {_ms(p99)} / {_ms(peak)} ms",
            f"p99 ≤ {limit:.0f} ms" if limit else "",
            p99,
            limit,
            note=note,
        ),
        Figure(f"{name}: steps ever shown", f"{100 * result['shown_share']:.1f}%", "", None, None),
        Figure(
            f"{name}: jobs whose final sampler step was shown",
            f"{100 * result['final_shown_share']:.1f}% ({result['final_shown']}/{jobs})",
            "100%",
            result["final_shown_share"],
            TARGET_FINAL_SHARE,
            at_least=True,
        ),
        Figure(
            f"{name}: {worker} CPU per emitted step",
            _cpu(result["worker_cpu_ms_per_event"]),
            f"≤ {cpu_limit:g} ms",
            _number(result["worker_cpu_ms_per_event"]),
            cpu_limit,
        ),
    ]
    if not result["one_process"]:
        rows.append(Figure(f"{name}: web CPU per emitted step", _cpu(result["web_cpu_ms_per_event"]), "", None, None))
    return rows


def _cpu(value) -> str:
    value = _number(value)
    return "no step emitted" if math.isinf(value) else f"{value:.3f} ms"
