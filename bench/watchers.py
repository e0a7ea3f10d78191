"""Watchers: one web process holding N idle job WebSockets (queued jobs, nothing running).

What a campaign launch does to the web tier: thousands of job pages open at once. Measured: how
fast they connect (connects per second, from the first to the last snapshot received, at most
OPEN_AT_ONCE handshakes in flight) and the RSS of the web process while it holds them all. A
socket that fails to connect is counted and its first errors are shown, never dropped silently.
The open-file limit of this process (and so of the web process it starts) is raised to its hard
limit first (bench.part).
"""

from __future__ import annotations

import asyncio
import resource
import time

import psutil
import websockets

from bench.common import Workspace, held_jobs, new_sessions
from bench.procs import WebProcess

OPEN_AT_ONCE = 100


def rss(process: psutil.Process) -> int:
    return process.memory_info().rss


async def hold(web: WebProcess, jobs: list, sessions: dict, process: psutil.Process) -> dict:
    base = web.url.replace("http://", "ws://")
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    sockets = []

    async def open_one(job_id: str) -> None:
        headers = {"Cookie": f"sessionid={sessions[job_id]}", "Origin": "http://127.0.0.1"}
        async with gate:
            socket = await websockets.connect(f"{base}/ws/jobs/{job_id}/", additional_headers=headers,
                                              open_timeout=120, max_size=None)  # fmt: skip
            sockets.append(socket)
            await asyncio.wait_for(socket.recv(), 120)  # the snapshot: the consumer is subscribed

    # One socket first: Django, Channels and the consumer are loaded before the baseline.
    await open_one(jobs[0])
    await asyncio.sleep(0.5)
    baseline = rss(process)
    started = time.monotonic()
    outcomes = await asyncio.gather(*(open_one(job_id) for job_id in jobs[1:]), return_exceptions=True)
    connect_seconds = time.monotonic() - started
    errors = [f"{type(error).__name__}: {error}"[:200] for error in outcomes if isinstance(error, BaseException)]
    await asyncio.sleep(3)  # idle: pings only
    samples = []
    open_fds = process.num_fds()
    for _ in range(5):
        samples.append(rss(process))
        await asyncio.sleep(0.2)
    alive = sum(1 for socket in sockets if socket.state is websockets.State.OPEN)
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    held = max(samples)
    connected = len(jobs) - 1 - len(errors)
    return {
        "sockets": len(jobs),
        "open": alive,
        "failed": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "baseline_rss_mib": baseline / 2**20,
        "rss_mib": held / 2**20,
        "per_socket_kib": (held - baseline) / max(1, alive - 1) / 1024,
        "connect_seconds": connect_seconds,
        "connects_per_second": connected / connect_seconds if connect_seconds > 0 else float("nan"),
        "web_fd_limit": process.rlimit(psutil.RLIMIT_NOFILE)[0],
        "web_open_fds": open_fds,
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
        result = asyncio.run(hold(web, list(by_job), by_job, psutil.Process(web.pid)))
        result["topology"] = topology
        result["bench_fd_limit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return result
    finally:
        if web is not None:
            web.stop()
        space.close()


TARGET_MIB = 1024.0
TARGET_CONNECTS_PER_SECOND = 500.0  # issue 22: a reconnect storm of 10,000 pages in 20 s


def figures(sockets: int, result: dict) -> list:
    from bench.report import Figure

    name = f"watchers, {sockets} idle job WebSockets on one web process"
    if "error" in result:
        return [Figure.failed(name, result)]
    note = (
        f"{result['open']}/{result['sockets']} open after the idle wait, {result['failed']} failed to connect"
        + (f" {result['error_examples']}" if result["error_examples"] else "")
        + f"; baseline {result['baseline_rss_mib']:.0f} MiB, {result['per_socket_kib']:.1f} KiB per socket; "
        f"{result['connect_seconds']:.1f} s to connect all, at most {OPEN_AT_ONCE} handshakes at once; open-file "
        f"limit {result['web_fd_limit']} (web, {result['web_open_fds']} open), {result['bench_fd_limit']} (clients)"
    )
    connected = result["sockets"] - result["failed"]
    held_all = result["open"] == result["sockets"]
    return [
        Figure(
            f"{name}: RSS",
            f"{result['rss_mib']:.0f} MiB" + ("" if held_all else f" holding only {result['open']}"),
            "< 1 GiB",
            result["rss_mib"] if held_all else None,  # fewer sockets held: the target is not shown met
            TARGET_MIB,
            note=note,
        ),
        Figure(
            f"{name}: connected",
            f"{connected} ({100 * connected / result['sockets']:.1f}%)",
            "all",
            connected / result["sockets"],
            1.0,
            at_least=True,
        ),
        Figure(
            f"{name}: connects per second",
            f"{result['connects_per_second']:.0f}/s",
            f"≥ {TARGET_CONNECTS_PER_SECOND:.0f}/s",
            result["connects_per_second"],
            TARGET_CONNECTS_PER_SECOND,
            at_least=True,
        ),
    ]
