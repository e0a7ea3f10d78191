"""The agent's one server stack: the Starlette app of app.py (around the service of service.py) under uvicorn.

uvicorn is Starlette's reference server and speaks ASGI lifespan, so `Agent.start()` and
`Agent.stop()` run from the lifespan events (app.py), and it enforces the WebSocket message size
while reading frames (`ws_max_size`): a prompt over AGENT_MAX_BODY_BYTES is refused with close code
1009 before it is buffered whole. `uvicorn_config()` is the one place the server is configured; the
tests serve the agent with it too.

Stopping (SIGTERM/SIGINT): uvicorn stops accepting connections, lets the requests in flight finish
(a synchronous `/api/run` gets its result; WebSockets are closed with 1012 and their tasks go on),
then the lifespan shutdown fails what is still in flight and stops a supervised ComfyUI. A second
SIGINT skips the wait.
"""

from __future__ import annotations

import asyncio
from typing import Any, TextIO

import uvicorn

from comfyweb.agent.app import build_asgi
from comfyweb.agent.config import AgentSettings, exposure_problem
from comfyweb.agent.service import Agent

STARTUP_FAILURE = 3  # uvicorn's own exit status when the application did not start


def uvicorn_config(agent: Agent, **overrides: Any) -> uvicorn.Config:
    """uvicorn settings for one agent; `overrides` are uvicorn.Config arguments (tests shorten timeouts)."""
    settings = agent.settings
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "asyncio",
        "http": "h11",
        # The `websockets` library's implementation (its sans-I/O protocol; uvicorn's older
        # "websockets" one is deprecated). It checks ws_max_size on every frame header it reads.
        "ws": "websockets-sansio",
        "ws_max_size": settings.max_body_bytes,  # a prompt with inline images is large, but bounded
        "ws_per_message_deflate": False,  # base64 images do not compress; spare the CPU
        "lifespan": "on",  # Agent.start()/stop(); a failed start stops the process
        "log_config": None,  # logging is configured by the caller (cli.py, or Django's LOGGING)
        "access_log": False,  # probes and status polls would drown the task lines
        "proxy_headers": False,  # the agent does not take client addresses from X-Forwarded-For
        "server_header": False,
    }
    options.update(overrides)
    return uvicorn.Config(build_asgi(agent), **options)


async def run(settings: AgentSettings, stdout: TextIO | None = None) -> bool:
    """Serve until a signal stops the server; False when the agent could not start."""
    problem = exposure_problem(settings)
    if problem:
        raise SystemExit(f"the GPU agent cannot start: {problem}")
    try:
        agent = Agent(settings)
    except ValueError as exc:  # a task store (or its database) the agent cannot use, a blank ComfyUI command
        raise SystemExit(f"the GPU agent cannot start: {exc}") from exc
    server = uvicorn.Server(uvicorn_config(agent))
    if stdout is not None:
        stdout.write(f"GPU agent on http://{settings.host}:{settings.port}/ in front of {settings.comfyui_url}\n")
        stdout.flush()
    try:
        await server.serve()
    finally:
        await agent.stop()  # nothing left to do after the lifespan shutdown; not so after a failed start
    return server.started


def serve(settings: AgentSettings, stdout: TextIO | None = None) -> None:
    """Run the agent under uvicorn in this process until SIGINT/SIGTERM (the CLI and `manage.py agent`).

    After its graceful shutdown uvicorn raises the signal it caught again, as `uvicorn.run()` does: the
    process then ends as killed by SIGTERM (status 143), or here, quietly, after a SIGINT (Ctrl-C).
    """
    try:
        started = asyncio.run(run(settings, stdout))
    except KeyboardInterrupt:
        return
    if not started:
        raise SystemExit(STARTUP_FAILURE)
