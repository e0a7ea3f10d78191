"""Parts of the product started as real processes, for tests that kill or scale them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from bench.procs import AgentProcess as BenchAgentProcess
from bench.procs import free_port, stop, wait_for_http

BASE_DIR = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """`python manage.py ...` as a child process with the test's environment plus `env`."""
    full_env = {**os.environ, "EMBEDDED_DEV": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=full_env, **kwargs)


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


class AgentProcess(BenchAgentProcess):
    """`manage.py agent` in its own process in front of a ComfyUI (or the emulator)."""

    def __init__(self, tmp_path: Path, comfyui_url: str, *extra: str) -> None:
        super().__init__(comfyui_url, tmp_path, *extra)

    def status(self, task_id: str) -> dict:
        return httpx.get(f"{self.url}/api/status", params={"id": task_id}, timeout=10).json()
