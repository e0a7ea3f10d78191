"""`python -m comfyweb.emulator`: the ComfyUI emulator's command line, without Django.

`manage.py emulator` is an alias: the same options (`add_arguments()`), the same `serve()`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

DESCRIPTION = "Run the ComfyUI emulator (speaks ComfyUI's HTTP/WebSocket protocol, images are emulated)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options, on this CLI's parser or on `manage.py emulator`'s."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--step-ms", type=int, default=50, help="time per simulated sampler step")
    parser.add_argument("--strict", action="store_true", help="reject node types ComfyUI core does not have")
    parser.add_argument(
        "--preview-method", default="none", help="like ComfyUI's: other than none, samplers send latent previews"
    )
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--input-dir", type=Path, default=None)


def build_parser(prog: str = "python -m comfyweb.emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def serve(options: argparse.Namespace | Mapping[str, Any], stdout: TextIO | None = None) -> None:
    """Serve the emulator with the parsed options until SIGINT/SIGTERM."""
    # Imported only to serve: the parser alone (--help, the deploy checks) loads no server.
    from aiohttp import web

    from comfyweb.emulator.config import EmulatorConfig
    from comfyweb.emulator.server import build_app

    values = vars(options) if isinstance(options, argparse.Namespace) else options
    config = EmulatorConfig(
        host=values["host"],
        port=values["port"],
        step_ms=values["step_ms"],
        strict=values["strict"],
        preview_method=values["preview_method"],
        output_dir=values["output_dir"],
        input_dir=values["input_dir"],
    )
    if stdout is not None:
        stdout.write(f"ComfyUI emulator on http://{config.host}:{config.port} (output: {config.output_dir})\n")
        stdout.flush()
    web.run_app(build_app(config), host=config.host, port=config.port, print=None)


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(options, stdout=sys.stdout)
    return 0
