"""Parts of the product started as real processes, for tests that kill or scale them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from bench.procs import AgentProcess as BenchAgentProcess
from bench.procs import free_port, python, stop, wait_for_http

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
        self.process = python(
            "-m", "comfyweb.emulator", "--host", "127.0.0.1", "--port", str(self.port), "--step-ms", str(step_ms),
            "--output-dir", str(tmp_path / f"emu-{self.port}"),
            env={}, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_http(f"{self.url}/system_stats", process=self.process)

    def set_faults(self, **faults: object) -> None:
        httpx.post(f"{self.url}/emulator/faults", json=faults, timeout=5).raise_for_status()

    def history(self) -> dict:
        return httpx.get(f"{self.url}/history", timeout=10).json()

    def stop(self) -> None:
        stop(self.process, signal.SIGKILL)


class AgentProcess(BenchAgentProcess):
    """`python -m comfyweb.agent` in its own process in front of a ComfyUI (or the emulator).

    `extra` flags go to the agent's command line (`"--store", "db://"`...), `env` on top of the test's.
    """

    def __init__(self, tmp_path: Path, comfyui_url: str, *extra: str, env: dict | None = None) -> None:
        super().__init__(comfyui_url, tmp_path, *extra, env=env)

    def status(self, task_id: str) -> dict:
        return httpx.get(f"{self.url}/api/status", params={"id": task_id}, timeout=10).json()


class CuttableProxy:
    """A TCP relay on loopback in its own thread: `cut()` drops every open connection, like a network blip.

    New connections are relayed again right after, so a client that reconnects gets through.
    """

    def __init__(self, target_port: int) -> None:
        import asyncio
        import threading

        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cuts = 0
        self._writers: set = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _serve(self) -> None:
        import asyncio

        async def pipe(reader, writer) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def relay(client_reader, client_writer) -> None:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.update({client_writer, upstream_writer})
            await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
            self._writers.difference_update({client_writer, upstream_writer})

        async def main() -> None:
            self._server = await asyncio.start_server(relay, "127.0.0.1", self.port)
            self._ready.set()
            await self._server.serve_forever()

        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(main())
        except BaseException:  # stopped
            pass

    def cut(self) -> None:
        """Abort every relayed connection now (a reset, not a polite close)."""

        def abort() -> None:
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self.cuts += 1
        self._loop.call_soon_threadsafe(abort)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
