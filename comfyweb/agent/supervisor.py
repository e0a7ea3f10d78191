"""Running ComfyUI as the agent's child (`--comfyui-cmd`): start, wait until it answers, restart, stop.

In a GPU container the agent is the main process and ComfyUI its child. When ComfyUI dies
(out of memory, a custom node crashing the interpreter), the tasks that were on it are failed
at once with a clear error, and ComfyUI is started again with a growing back-off, so that a
ComfyUI that cannot start does not spin. The child runs in its own process group: stopping
the agent stops ComfyUI and anything ComfyUI started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import time
from collections.abc import Awaitable, Callable

import httpx

logger = logging.getLogger(__name__)

PROBE_PATH = "/system_stats"
STOP_GRACE_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_RUN_SECONDS = 60.0  # a child that lived this long resets the back-off


async def comfyui_answers(base_url: str, timeout: float = 2.0) -> bool:
    """True when ComfyUI answers its cheapest endpoint."""
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.get(base_url.rstrip("/") + PROBE_PATH)
        return response.status_code == 200
    except httpx.HTTPError:
        return False


class ComfySupervisor:
    """Keeps one ComfyUI child process alive; `up` is True once it answers, until it exits."""

    def __init__(
        self,
        command: str,
        base_url: str,
        *,
        on_exit: Callable[[int | None], Awaitable[None] | None] | None = None,
        on_restart: Callable[[], None] | None = None,
        start_timeout: float = 300.0,
        backoff: float = 1.0,
    ) -> None:
        self.command = shlex.split(command)
        if not self.command:
            raise ValueError("the ComfyUI command is empty")
        self.base_url = base_url
        self.on_exit = on_exit
        self.on_restart = on_restart
        self.start_timeout = start_timeout
        self.initial_backoff = backoff
        self.process: asyncio.subprocess.Process | None = None
        self.up = asyncio.Event()
        self.starts = 0
        self._task: asyncio.Task | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self) -> None:
        """Start the child and the loop that watches it; returns at once (see `wait_until_up`)."""
        self._task = asyncio.create_task(self._keep_alive(), name="comfyui-supervisor")

    async def wait_until_up(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.up.wait(), timeout)

    async def _spawn(self) -> asyncio.subprocess.Process:
        self.starts += 1
        if self.starts > 1 and self.on_restart is not None:
            self.on_restart()
        logger.info("starting ComfyUI: %s", shlex.join(self.command))
        return await asyncio.create_subprocess_exec(*self.command, start_new_session=True)

    async def _wait_reachable(self, process: asyncio.subprocess.Process) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and process.returncode is None:
            if await comfyui_answers(self.base_url, timeout=1.0):
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 0.25)
        return False

    async def _keep_alive(self) -> None:
        backoff = self.initial_backoff
        while not self._stopping:
            process = self.process = await self._spawn()
            started = time.monotonic()
            if await self._wait_reachable(process):
                logger.info("ComfyUI answers at %s (pid %s)", self.base_url, process.pid)
                self.up.set()
            elif process.returncode is None:
                logger.error("ComfyUI did not answer within %g s; restarting it", self.start_timeout)
                self._kill(process, signal.SIGKILL)
            code = await process.wait()
            self.up.clear()
            if self._stopping:
                return
            logger.error("ComfyUI exited with %s; failing its tasks and restarting it", code)
            if self.on_exit is not None:
                result = self.on_exit(code)
                if asyncio.iscoroutine(result):
                    await result
            if time.monotonic() - started > HEALTHY_RUN_SECONDS:
                backoff = self.initial_backoff
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _kill(self, process: asyncio.subprocess.Process, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    async def restart(self) -> None:
        """Kill a stuck ComfyUI; the watch loop starts a new one."""
        if self.process is not None and self.process.returncode is None:
            logger.warning("killing a stuck ComfyUI (pid %s)", self.process.pid)
            self._kill(self.process, signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM the child's process group, SIGKILL after a grace period."""
        self._stopping = True
        process = self.process
        if process is not None and process.returncode is None:
            self._kill(process, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                self._kill(process, signal.SIGKILL)
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.up.clear()
