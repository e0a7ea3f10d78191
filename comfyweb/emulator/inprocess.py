"""Run the emulator inside another process: the embedded topology (`manage.py serve`) and the tests.

On the caller's own event loop (`running_emulator`), or in a thread for synchronous code (`EmulatorThread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .config import FAULT_KEYS, EmulatorConfig
from .server import build_app


@dataclass
class EmulatorHandle:
    """A running emulator: where it listens and where it keeps files."""

    url: str
    config: EmulatorConfig

    @property
    def output_dir(self) -> Path:
        return self.config.output_dir  # type: ignore[return-value]

    @property
    def input_dir(self) -> Path:
        return self.config.input_dir  # type: ignore[return-value]

    @property
    def temp_dir(self) -> Path:
        return self.config.temp_dir  # type: ignore[return-value]

    def set_faults(self, **faults: object) -> dict:
        """Replace the fault switches (same keys as POST /emulator/faults); no arguments clears them."""
        unknown = set(faults) - set(FAULT_KEYS)
        if unknown:
            raise ValueError(f"unknown fault switches: {sorted(unknown)}")
        self.config.faults.clear()
        self.config.faults.update({key: value for key, value in faults.items() if value is not None})
        return dict(self.config.faults)


async def _start(config: EmulatorConfig) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(build_app(config), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{config.host}:{port}"


@contextlib.asynccontextmanager
async def running_emulator(**config: object) -> AsyncIterator[EmulatorHandle]:
    """An emulator on a free loopback port of the current event loop."""
    config.setdefault("port", 0)
    settings = EmulatorConfig(**config)  # type: ignore[arg-type]
    runner, url = await _start(settings)
    try:
        yield EmulatorHandle(url, settings)
    finally:
        await runner.cleanup()


class EmulatorThread:
    """An emulator with its own event loop in a daemon thread, for sync tests and live servers."""

    def __init__(self, **config: object) -> None:
        config.setdefault("port", 0)
        self.config = EmulatorConfig(**config)  # type: ignore[arg-type]
        self.handle = EmulatorHandle("", self.config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def output_dir(self) -> Path:
        return self.handle.output_dir

    @property
    def input_dir(self) -> Path:
        return self.handle.input_dir

    def set_faults(self, **faults: object) -> dict:
        return self.handle.set_faults(**faults)

    def start(self, timeout: float = 10.0) -> EmulatorThread:
        """Returns once the emulator listens."""
        self._thread = threading.Thread(target=self._serve, name="comfy-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the emulator did not start in time")
        if self._error:
            raise RuntimeError("the emulator failed to start") from self._error
        return self

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._runner, self.handle.url = self._loop.run_until_complete(_start(self.config))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def info(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/emulator/info", timeout=5) as answer:  # noqa: S310 - loopback
            return json.loads(answer.read())
