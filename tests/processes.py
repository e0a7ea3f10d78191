"""Parts of the product started as real processes, for tests that kill or scale them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

BASE_DIR = Path(__file__).resolve().parent.parent


def wait_for_http(url: str, timeout: float = 30, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def manage(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """`python manage.py ...` as a child process with the test's environment plus `env`."""
    full_env = {**os.environ, "EMBEDDED_DEV": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=full_env, **kwargs)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class EmulatorProcess:
    """An emulator in its own process, so a test can kill it like a crashed GPU box."""

    def __init__(self, tmp_path, step_ms: int = 5, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = manage(
            "emulator", "--host", "127.0.0.1", "--port", str(self.port), "--step-ms", str(step_ms),
            "--output-dir", str(tmp_path / f"emu-{self.port}"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_http(f"{self.url}/system_stats", process=self.process)

    def set_faults(self, **faults: object) -> None:
        httpx.post(f"{self.url}/emulator/faults", json=faults, timeout=5).raise_for_status()

    def history(self) -> dict:
        return httpx.get(f"{self.url}/history", timeout=10).json()

    def stop(self) -> None:
        stop(self.process, signal.SIGKILL)


class AgentProcess:
    """`manage.py agent` in its own process in front of a ComfyUI (or the emulator)."""

    def __init__(self, tmp_path, comfyui_url: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = manage(
            "agent", "--host", "127.0.0.1", "--port", str(self.port), "--comfyui-url", comfyui_url,
            "--store", f"file://{tmp_path / f'agent-{self.port}'}", *extra,
            stdout=subprocess.DEVNULL, stderr=(tmp_path / f"agent-{self.port}.log").open("wb"),
        )  # fmt: skip
        wait_for_http(f"{self.url}/api/health", process=self.process)

    def status(self, task_id: str) -> dict:
        return httpx.get(f"{self.url}/api/status", params={"id": task_id}, timeout=10).json()

    def stop(self) -> None:
        stop(self.process)
