"""Watchers: RSS of one web process holding N idle job WebSockets (queued jobs, nothing running)."""

from __future__ import annotations

import asyncio
import time

import psutil
import websockets

from bench.common import Workspace, held_jobs, new_sessions
from bench.procs import WebProcess


def rss(process: psutil.Process) -> int:
    return process.memory_info().rss


async def hold(web: WebProcess, jobs: list, sessions: dict, process: psutil.Process) -> dict:
    base = web.url.replace("http://", "ws://")
    gate = asyncio.Semaphore(100)
    sockets = []

    async def open_one(job_id: str) -> None:
        headers = {"Cookie": f"sessionid={sessions[job_id]}", "Origin": "http://127.0.0.1"}
        async with gate:
            socket = await websockets.connect(f"{base}/ws/jobs/{job_id}/", additional_headers=headers,
                                              open_timeout=120, max_size=None)  # fmt: skip
            await socket.recv()  # the snapshot: the consumer is subscribed
        sockets.append(socket)

    # One socket first: Django, Channels and the consumer are loaded before the baseline.
    await open_one(jobs[0])
    await asyncio.sleep(0.5)
    baseline = rss(process)
    started = time.monotonic()
    await asyncio.gather(*(open_one(job_id) for job_id in jobs[1:]))
    connect_seconds = time.monotonic() - started
    await asyncio.sleep(3)  # idle: pings only
    samples = []
    for _ in range(5):
        samples.append(rss(process))
        await asyncio.sleep(0.2)
    alive = sum(1 for socket in sockets if socket.state is websockets.State.OPEN)
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    held = max(samples)
    return {
        "sockets": len(jobs),
        "open": alive,
        "baseline_rss_mib": baseline / 2**20,
        "rss_mib": held / 2**20,
        "per_socket_kib": (held - baseline) / max(1, len(jobs) - 1) / 1024,
        "connect_seconds": connect_seconds,
    }


def run(*, topology: str, sockets: int, **_options) -> dict:
    space = Workspace(topology)
    space.setup_django()
    web = None
    try:
        sessions = new_sessions(max(1, sockets // 20))
        created = held_jobs(4, sessions, sockets)
        by_job = {str(job.pk): job.session_key for job in created}
        web = WebProcess(space.env, space.log("web"), worker=False)
        return asyncio.run(hold(web, list(by_job), by_job, psutil.Process(web.pid)))
    finally:
        if web is not None:
            web.stop()
        space.close()


TARGET_MIB = 1024.0


def figures(sockets: int, result: dict) -> list:
    from bench.report import Figure

    name = f"watchers: RSS of one web process with {sockets} idle job WebSockets"
    if "error" in result:
        return [Figure.failed(name, result)]
    note = (
        f"{result['open']} open; baseline {result['baseline_rss_mib']:.0f} MiB, {result['per_socket_kib']:.1f} KiB "
        f"per socket; all connected in {result['connect_seconds']:.1f} s"
    )
    return [Figure(name, f"{result['rss_mib']:.0f} MiB", "< 1 GiB", result["rss_mib"], TARGET_MIB, note=note)]
