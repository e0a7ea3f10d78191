"""`manage.py agent`: the GPU agent (fc-comfyui compatible API in front of one ComfyUI), served by daphne."""

from __future__ import annotations

import asyncio
import logging

from django.core.management.base import BaseCommand, CommandError

from comfyweb.agent.config import AgentSettings

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # the agent uses no web-app table unless the db:// store is chosen
    help = (
        "Run the GPU agent in front of a ComfyUI. Every option also comes from an environment variable "
        "(in brackets); see comfyweb/agent/README.md for the others."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=None, help="address to listen on [AGENT_HOST, 0.0.0.0]")
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

    def handle(self, *args, **options) -> None:
        try:
            settings = AgentSettings.from_env(
                host=options["host"],
                port=options["port"],
                comfyui_url=options["comfyui_url"],
                store_url=options["store"],
                comfyui_cmd=options["comfyui_cmd"],
                concurrency=options["concurrency"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if settings.concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        serve(settings, stdout=self.stdout)


def serve(settings: AgentSettings, stdout=None) -> None:
    """Run the agent under daphne until SIGINT/SIGTERM, then fail in-flight tasks and stop ComfyUI."""
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server  # installs Twisted's asyncio reactor
    from twisted.internet import defer, reactor

    from comfyweb.agent.app import Agent

    agent = Agent(settings)
    background: set[asyncio.Future] = set()

    def start() -> None:
        background.add(asyncio.ensure_future(agent.start()))

    def stop():
        return defer.Deferred.fromFuture(asyncio.ensure_future(agent.stop()))

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    if stdout is not None:
        stdout.write(f"GPU agent on http://{settings.host}:{settings.port}/ in front of {settings.comfyui_url}")
    Server(
        application=agent,
        endpoints=build_endpoint_description_strings(host=settings.host, port=settings.port),
        signal_handlers=True,
        http_timeout=None,
        websocket_timeout=-1,
        websocket_max_message_size=settings.max_body_bytes,  # a prompt with inline images is large
        websocket_max_frame_size=settings.max_body_bytes,
    ).run()
