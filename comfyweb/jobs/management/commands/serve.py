from __future__ import annotations

from channels.routing import get_default_application
from django.conf import settings
from django.core.management.base import BaseCommand

from comfyweb.core.webserver import run_web
from comfyweb.emulator.inprocess import EmulatorThread
from comfyweb.emulator.ports import choose_emulator_port
from comfyweb.jobs.worker import JobWorker


class Command(BaseCommand):
    help = (
        "Embedded topology in one process: the web server (pages, REST API, WebSockets; uvicorn), the job "
        "dispatcher in the same event loop and, unless COMFYUI_URL or GPU_BACKENDS is set, the ComfyUI emulator."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
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
        self.stdout.write(f"comfyweb at http://{host}:{port}/")
        self.stdout.flush()
        try:
            run_web(application, host=host, port=port, beside=worker.run)
        finally:
            worker.stop()
            if emulator is not None:
                emulator.stop()
