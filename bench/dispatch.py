"""Dispatch efficiency: N short jobs over 8 emulated GPUs with 2 slots each.

Each emulated backend executes one prompt at a time (like ComfyUI on one GPU); its second
slot keeps the next job waiting in ComfyUI's own queue so the GPU never waits for the web.
The ideal makespan is therefore the total execution time divided by the number of backends.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime

from bench.common import Workspace, final_count, held_jobs, new_sessions, release_jobs
from bench.procs import Emulators, WebProcess, python, stop


def overlap(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end] covered by the union of `intervals`."""
    covered, cursor = 0.0, start
    for low, high in sorted(intervals):
        low, high = max(low, cursor), min(high, end)
        if high > low:
            covered += high - low
            cursor = high
    return covered


def slot_time(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """Slot-seconds of [start, end] held by `intervals` (they may overlap: one per occupied slot)."""
    return sum(max(0.0, min(high, end) - max(low, start)) for low, high in intervals)


def run(*, topology: str, jobs: int, backends: int, slots: int, steps: int, step_ms: int, **_options) -> dict:
    space = Workspace(topology)
    space.setup_django()
    emulators = Emulators(backends, step_ms, space.root / "emulators", log=space.log("emulators"))
    processes = []
    try:
        env = {**space.env, "GPU_BACKENDS": emulators.gpu_backends(slots)}
        web = WebProcess(env, space.log("web"), worker=topology == "embedded")
        processes.append(web.process)
        if topology == "scaled":
            processes.append(python("manage.py", "runjobs", env=env, log=space.log("worker")))
        held_jobs(steps, new_sessions(50), jobs)
        time.sleep(1.0)  # the dispatcher has synced the backends and polls an empty queue
        released = time.time()
        release_jobs()
        deadline = time.monotonic() + 60 + jobs * steps * step_ms / 1000 / backends * 4
        while final_count() < jobs and time.monotonic() < deadline:
            time.sleep(0.25)
        return measure(emulators, released, jobs, backends, slots)
    finally:
        for process in processes:
            stop(process, signal.SIGINT)
        emulators.stop()
        space.close()


def measure(emulators: Emulators, released: float, jobs: int, backends: int, slots: int) -> dict:
    from django.db.models import Count

    from comfyweb.jobs.models import Job

    def ts(value: datetime | None) -> float | None:
        return value.timestamp() if value else None

    rows = list(Job.objects.values_list("status", "dispatched_at", "finished_at", "backend__url"))
    statuses = dict(Job.objects.values_list("status").annotate(n=Count("id")))
    runs = [run for run in emulators.runs() if run[4] == "success" and run[2] and run[3]]
    work = sum((end - start) / 1000 for _index, _id, start, end, _status in runs)
    finished = [ts(row[2]) for row in rows if row[2]]
    makespan = max(finished) - released if finished else float("nan")
    ideal = work / backends
    last_dispatch = max(ts(row[1]) for row in rows if row[1])
    waiting = max(0.0, last_dispatch - released)  # jobs were waiting in the queue all this time
    busy: dict[int, list] = {}
    for index, _id, start, end, _status in runs:
        busy.setdefault(index, []).append((start / 1000, end / 1000))
    gpu_idle = sum(waiting - overlap(busy.get(index, []), released, last_dispatch) for index in range(backends))
    held: dict[str, list] = {}
    for _status, dispatched, done, url in rows:
        if dispatched and done and url:
            held.setdefault(url, []).append((ts(dispatched), ts(done)))
    slot_idle = sum(slots * waiting - slot_time(held.get(url, []), released, last_dispatch) for url in emulators.urls)
    return {
        "jobs": jobs,
        "statuses": statuses,
        "executions": len(runs),
        "work_seconds": work,
        "mean_job_seconds": work / len(runs) if runs else float("nan"),
        "makespan_seconds": makespan,
        "ideal_seconds": ideal,
        "ratio": makespan / ideal if ideal else float("nan"),
        "queue_wait_seconds": waiting,
        "gpu_idle_seconds": gpu_idle,
        "gpu_idle_share": gpu_idle / (backends * waiting) if waiting else 0.0,
        "slot_idle_seconds": slot_idle,
        "slot_idle_share": slot_idle / (backends * slots * waiting) if waiting else 0.0,
    }


TARGET_RATIO = 1.02


def figures(options: dict, result: dict) -> list:
    from bench.report import Figure

    name = f"dispatch, {options['jobs']} jobs over 8 backends x 2 slots"
    if "error" in result:
        return [Figure.failed(name, result)]
    note = (
        f"{result['statuses']}; makespan {result['makespan_seconds']:.1f} s, ideal {result['ideal_seconds']:.1f} s "
        f"(total execution {result['work_seconds']:.1f} s / 8 GPUs, {result['mean_job_seconds'] * 1000:.0f} ms per "
        f"job); work waited {result['queue_wait_seconds']:.1f} s"
    )
    return [
        Figure(
            f"{name}: makespan / ideal", f"{result['ratio']:.3f}x", "≤ 1.02x", result["ratio"], TARGET_RATIO, note=note
        ),
        Figure(
            "dispatch: GPU idle while work waits",
            f"{result['gpu_idle_seconds']:.1f} s ({100 * result['gpu_idle_share']:.1f}%)",
            "",
            None,
            None,
        ),
        Figure(
            "dispatch: slot idle while work waits",
            f"{result['slot_idle_seconds']:.1f} slot-s ({100 * result['slot_idle_share']:.1f}%)",
            "",
            None,
            None,
        ),
    ]
