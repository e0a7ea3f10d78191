from __future__ import annotations

import asyncio

from channels.routing import get_default_application
from django.conf import settings
from django.core.management.base import BaseCommand

from comfyweb.emulator.inprocess import EmulatorThread
from comfyweb.emulator.ports import choose_emulator_port
from comfyweb.jobs.worker import JobWorker


class Command(BaseCommand):
    help = (
        "Embedded topology in one process: daphne (web + WebSocket), the job dispatcher and, unless "
        "COMFYUI_URL or GPU_BACKENDS is set, the ComfyUI emulator."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        # Imported only when serving: importing daphne.server installs Twisted's asyncio reactor.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from twisted.internet import reactor

        application = get_default_application()  # settings.ASGI_APPLICATION: the whole site
        emulator = None
        if not settings.COMFYUI_URL and not settings.GPU_BACKENDS:
            # A real ComfyUI often holds 8188: take a free port instead (the worker reads the setting when it
            # registers the emulator as the backend, so it follows).
            settings.EMULATOR_PORT = choose_emulator_port(settings.EMULATOR_HOST, settings.EMULATOR_PORT)
            emulator = EmulatorThread(
                host=settings.EMULATOR_HOST,
                port=settings.EMULATOR_PORT,
                step_ms=settings.EMULATOR_STEP_MS,
                preview_method=settings.EMULATOR_PREVIEW_METHOD,
                output_dir=str(settings.VAR_DIR / "emulator"),
            )
            emulator.start()
            self.stdout.write(f"ComfyUI emulator at {emulator.url} (images are emulated, not generated)")

        worker = JobWorker()

        background: set[asyncio.Future] = set()

        def start_worker() -> None:
            background.add(asyncio.ensure_future(worker.run()))

        reactor.callWhenRunning(start_worker)
        self.stdout.write(f"comfyweb at http://{host}:{port}/")
        try:
            Server(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                signal_handlers=True,
            ).run()
        finally:
            worker.stop()
            if emulator is not None:
                emulator.stop()
