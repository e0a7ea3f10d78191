"""`python -m comfyweb.agent`: the GPU agent's command line, without Django.

The agent runs next to a ComfyUI in a container where environment variables are the usual way in;
every flag below also comes from one (in brackets in `--help`, all of them in the agent README).
The process never configures Django settings: the file:// and redis:// stores need none, and the
db:// store configures Django itself on first use (comfyweb.agent.stores).

`manage.py agent` is an alias: it adds the same options with `add_arguments()`, turns them into
settings with `settings_from_options()` and calls the same `serve()`.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from comfyweb.agent.config import OUTPUTS_AFTER_READ, PASSTHROUGH_MODES, AgentSettings, exposure_problem
from comfyweb.core.logging import logging_config

DESCRIPTION = (
    "Run the GPU agent (the fc-comfyui compatible API) in front of a ComfyUI, served by uvicorn. Every option "
    "also comes from an environment variable (in brackets); see comfyweb/agent/README.md for the others."
)


class UsageError(ValueError):
    """A flag or variable with a value the agent cannot run with."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The agent's options, on this CLI's parser or on `manage.py agent`'s."""
    parser.add_argument(
        "--host",
        default=None,
        help="address to listen on; other than loopback it needs AGENT_TOKEN or --no-auth [AGENT_HOST, 127.0.0.1]",
    )
    parser.add_argument("--port", type=int, default=None, help="port to listen on [AGENT_PORT, 8189]")
    parser.add_argument(
        "--comfyui-url", default=None, help="the ComfyUI behind the agent [COMFYUI_URL, http://127.0.0.1:8188]"
    )
    parser.add_argument(
        "--store",
        default=None,
        help="task store: file:///dir, redis://..., db:// [AGENT_STORE, file://var/agent-tasks]",
    )
    parser.add_argument(
        "--comfyui-cmd", default=None, help="start ComfyUI with this command and keep it alive [AGENT_COMFYUI_CMD]"
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="prompts on ComfyUI at once [AGENT_CONCURRENCY, 1]"
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        default=None,
        help="listen on the network without AGENT_TOKEN: the platform in front authenticates [AGENT_NO_AUTH]",
    )
    parser.add_argument(
        "--passthrough",
        choices=PASSTHROUGH_MODES,
        default=None,
        help="paths passed on to ComfyUI: api (the routes API clients use), all, none [AGENT_PASSTHROUGH, api]",
    )
    parser.add_argument(
        "--passthrough-ui",
        action="store_true",
        default=None,
        help="also pass on ComfyUI's web UI [AGENT_PASSTHROUGH_UI]",
    )
    parser.add_argument(
        "--outputs-after-read",
        choices=OUTPUTS_AFTER_READ,
        default=None,
        help="delete a task's output files once a sync or WebSocket answer carried them, or keep them "
        "until the record expires [AGENT_OUTPUTS_AFTER_READ, keep]",
    )
    parser.add_argument(
        "--comfyui-input-dir", default=None, help="ComfyUI's input folder (found from ComfyUI when not given) "
        "[AGENT_COMFYUI_INPUT_DIR]",
    )  # fmt: skip
    parser.add_argument(
        "--comfyui-output-dir", default=None, help="ComfyUI's output folder (found from ComfyUI when not given) "
        "[AGENT_COMFYUI_OUTPUT_DIR]",
    )  # fmt: skip
    parser.add_argument(
        "--previews",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send ComfyUI's live previews on /api/run/ws (a caller may turn them off with ?previews=0) "
        "[AGENT_PREVIEWS, on]",
    )


def build_parser(prog: str = "python -m comfyweb.agent") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def settings_from_options(options: argparse.Namespace | Mapping[str, Any]) -> AgentSettings:
    """The parsed flags on top of the environment; UsageError names what is wrong."""
    values = vars(options) if isinstance(options, argparse.Namespace) else options
    try:
        settings = AgentSettings.from_env(
            host=values.get("host"),
            port=values.get("port"),
            comfyui_url=values.get("comfyui_url"),
            store_url=values.get("store"),
            comfyui_cmd=values.get("comfyui_cmd"),
            concurrency=values.get("concurrency"),
            no_auth=values.get("no_auth"),
            passthrough=values.get("passthrough"),
            passthrough_ui=values.get("passthrough_ui"),
            outputs_after_read=values.get("outputs_after_read"),
            comfyui_input_dir=values.get("comfyui_input_dir"),
            comfyui_output_dir=values.get("comfyui_output_dir"),
            previews=values.get("previews"),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if settings.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    problem = exposure_problem(settings)
    if problem:
        raise UsageError(problem)
    return settings


def configure_logging() -> None:
    """Log lines as the web's settings.LOGGING writes them: LOG_FORMAT (text|json) and LOG_LEVEL on stderr."""
    try:
        config = logging_config(
            os.environ.get("LOG_FORMAT", "text").strip().lower() or "text",
            os.environ.get("LOG_LEVEL", "INFO").strip(),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    logging.config.dictConfig(config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        configure_logging()
        settings = settings_from_options(options)
    except (UsageError, ValueError) as exc:
        parser.error(str(exc))  # exits with status 2, like an unknown flag
    # Imported only to serve: the parser alone (--help, the deploy checks) loads no server.
    from comfyweb.agent.server import serve

    serve(settings, stdout=sys.stdout)
    return 0
