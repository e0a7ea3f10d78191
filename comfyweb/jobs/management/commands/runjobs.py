from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand

from comfyweb.jobs.worker import JobWorker


def event_loop_factory():
    """uvloop's event loop where it is installed (Linux, macOS), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class Command(BaseCommand):
    help = "Run a dispatcher worker: claim queued jobs and run them on the GPU backends (scaled-out topology)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default=None, help="worker name (default: host:pid)")
        parser.add_argument("--poll", type=float, default=0.5, help="seconds between queue polls")

    def handle(self, *args, name: str | None, poll: float, **options) -> None:
        # uvloop: the worker is a loop of socket reads and writes (hundreds of backend sockets, Redis,
        # PostgreSQL); its event loop costs about half of asyncio's per ready socket.
        asyncio.run(self._run(name, poll), loop_factory=event_loop_factory())

    async def _run(self, name: str | None, poll: float) -> None:
        worker = JobWorker(name, poll_interval=poll)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        self.stdout.write(f"runjobs worker {worker.name} started")
        await worker.run()
