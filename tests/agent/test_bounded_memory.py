"""An oversized or unauthenticated request costs the agent at most its limit, not the request's size.

The agent is a real process (`python -m comfyweb.agent`); its resident memory is sampled with psutil
while a 300 MB body is streamed at it from a generator (the test process never holds it either).
"""

from __future__ import annotations

import threading
import time

import httpx
import psutil
import pytest

from tests.processes import AgentProcess

pytestmark = pytest.mark.slow

BODY_BYTES = 300 * 1024 * 1024
CHUNK = b"x" * (1024 * 1024)
RSS_BUDGET = 20 * 1024 * 1024


def body_chunks():
    for _ in range(BODY_BYTES // len(CHUNK)):
        yield CHUNK


class PeakRss:
    """Samples a process's resident set size every few milliseconds; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def post_300_mb(url: str, *, declared: bool, headers: dict | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json", **(headers or {})}
    if declared:
        headers["Content-Length"] = str(BODY_BYTES)
    with httpx.Client(timeout=120, trust_env=False) as client:
        return client.post(f"{url}/api/run", content=body_chunks(), headers=headers)


def warm_up(url: str, token: str | None = None) -> None:
    """A few requests first, so that lazily imported code is not counted as the body's cost."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(timeout=30, trust_env=False) as client:
        for _ in range(3):
            client.post(f"{url}/api/run", content=b"{}", headers={"Content-Type": "application/json", **headers})
            client.post(f"{url}/api/run", content=b"{}", headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_unauthenticated_300_mb_body_is_refused_without_being_held(tmp_path, emulator_thread, declared):
    agent = AgentProcess(tmp_path, emulator_thread.url, env={"AGENT_TOKEN": "s3cret"})
    try:
        warm_up(agent.url, "s3cret")
        with PeakRss(agent.process.pid) as rss:
            answer = post_300_mb(agent.url, declared=declared)
    finally:
        agent.stop()
    assert answer.status_code == 401
    assert rss.growth < RSS_BUDGET, f"the agent grew by {rss.growth / 2**20:.1f} MB"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_body_costs_at_most_the_limit(tmp_path, emulator_thread, declared):
    """Without a token (loopback), a body over AGENT_MAX_BODY_BYTES is a 413, read no further than the limit."""
    limit = 4 * 1024 * 1024
    agent = AgentProcess(tmp_path, emulator_thread.url, env={"AGENT_MAX_BODY_BYTES": str(limit)})
    try:
        warm_up(agent.url)
        with PeakRss(agent.process.pid) as rss:
            answer = post_300_mb(agent.url, declared=declared)
    finally:
        agent.stop()
    assert answer.status_code == 413 and answer.json()["message"] == "RequestParamsError"
    assert rss.growth < RSS_BUDGET, f"the agent grew by {rss.growth / 2**20:.1f} MB"
