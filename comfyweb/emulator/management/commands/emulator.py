"""`manage.py emulator`: a ComfyUI look-alike for machines without a GPU."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from django.core.management.base import BaseCommand

from comfyweb.emulator.config import EmulatorConfig
from comfyweb.emulator.server import build_app


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # a standalone protocol server: the web app's checks do not apply
    help = "Run the ComfyUI emulator (speaks ComfyUI's HTTP/WebSocket protocol, images are emulated)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8188)
        parser.add_argument("--step-ms", type=int, default=50, help="time per simulated sampler step")
        parser.add_argument("--strict", action="store_true", help="reject node types ComfyUI core does not have")
        parser.add_argument(
            "--preview-method", default="none", help="like ComfyUI's: other than none, samplers send latent previews"
        )
        parser.add_argument("--output-dir", type=Path, default=None)
        parser.add_argument("--input-dir", type=Path, default=None)

    def handle(self, *args, **options) -> None:
        config = EmulatorConfig(
            host=options["host"],
            port=options["port"],
            step_ms=options["step_ms"],
            strict=options["strict"],
            preview_method=options["preview_method"],
            output_dir=options["output_dir"],
            input_dir=options["input_dir"],
        )
        self.stdout.write(f"ComfyUI emulator on http://{config.host}:{config.port} (output: {config.output_dir})")
        web.run_app(build_app(config), host=config.host, port=config.port, print=None)
