"""Starting and stopping the processes a figure needs (all on loopback)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent


_PICK = random.SystemRandom()  # not `random`: test workers seeded alike would draw the same ports


def _ephemeral_ports() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default


def free_port() -> int:
    """A loopback port nothing listens on, for a server started next (often in another process).

    It is drawn from below the kernel's ephemeral range: a port from bind(0) is an ephemeral one, which the kernel
    may give to any outgoing connection on the machine before the server that asked for it binds it."""
    below = range(20000, max(_ephemeral_ports().start, 20001))
    for _ in range(200):
        port = _PICK.choice(below)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a machine whose ephemeral range starts low: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2, trust_env=False)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def python(
    *args: str, env: dict, log: Path | None = None, wrap: list[str] | None = None, drop: tuple[str, ...] = (), **kwargs
) -> subprocess.Popen:
    """`python <args>` in the project folder with `env` on top of ours (less `drop`); stderr to `log` when given."""
    stderr = log.open("ab") if log else subprocess.DEVNULL
    command = [*(wrap or []), sys.executable, *args]
    full_env = {key: value for key, value in {**os.environ, **env}.items() if key not in drop}
    return subprocess.Popen(command, cwd=BASE_DIR, env=full_env, stderr=stderr, **kwargs)


class Emulators:
    """`count` emulated GPU backends in one child process (see bench.emulators)."""

    def __init__(
        self, count: int, step_ms: int, root: Path, log: Path | None = None, preview_method: str = "none"
    ) -> None:
        self.process = python(
            "-m", "bench.emulators", "--count", str(count), "--step-ms", str(step_ms), "--root", str(root),
            "--preview-method", preview_method, env={}, log=log, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulators did not start")
        self.urls: list[str] = json.loads(line)["urls"]

    def gpu_backends(self, slots: int) -> str:
        return ",".join(f"comfyui+{url}#{slots}" for url in self.urls)

    def emits(self) -> dict[tuple[str, str, float], float]:
        rows = httpx.get(f"{self.urls[0]}/bench/emits", timeout=60, trust_env=False).json()
        return {(p, n, float(v)): t for p, n, v, t in rows}

    def runs(self) -> list[list]:
        return httpx.get(f"{self.urls[0]}/bench/runs", timeout=60, trust_env=False).json()

    def stop(self) -> None:
        stop(self.process)


class AgentProcess:
    """`python -m comfyweb.agent` in front of `comfyui_url`; by default its task files under `root` (file://).

    As deployed, the agent runs without Django settings: DJANGO_SETTINGS_MODULE is not passed on.
    """

    def __init__(self, comfyui_url: str, root: Path, *extra: str, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        store = () if "--store" in extra else ("--store", f"file://{root / f'agent-{self.port}'}")
        self.process = python(
            "-m", "comfyweb.agent", "--host", "127.0.0.1", "--port", str(self.port), "--comfyui-url", comfyui_url,
            *store, *extra,
            env=env or {}, drop=("DJANGO_SETTINGS_MODULE",), log=root / f"agent-{self.port}.log",
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_http(f"{self.url}/api/health", process=self.process)

    def stop(self) -> None:
        stop(self.process)


class WebProcess:
    """`manage.py serve` (web server + dispatcher in one process) or the web command alone (`worker=False`)."""

    def __init__(self, env: dict, log: Path, worker: bool = True, wrap: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if worker:
            args = ["manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            args = ["manage.py", "web", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = python(*args, env=env, log=log, wrap=wrap, stdout=subprocess.DEVNULL)
        wait_for_http(f"{self.url}/", process=self.process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop(self.process, signal.SIGINT)
