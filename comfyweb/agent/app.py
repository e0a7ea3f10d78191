"""The GPU agent as one ASGI application: routes, refusals, guards and lifespan around the service.

`build_asgi(agent)` assembles, inside out: the Starlette routes (the agent's own API from api.py, then
the passthrough to ComfyUI for every other path), Starlette's exception handlers (errors.py: every
AgentError a route raises becomes its JSON envelope), the lifespan that starts and stops the agent,
and the guards of middleware.py (loopback `Host`, CORS for `/api/*`, same origin, bearer token).
The first request starts an agent that no lifespan started (a caller serving it by other means).
"""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from comfyweb.agent import api
from comfyweb.agent.config import is_loopback_host
from comfyweb.agent.errors import EXCEPTION_HANDLERS, RequestError
from comfyweb.agent.middleware import ApiCors, LoopbackHost, SameOrigin, TokenAuth
from comfyweb.agent.proxy import PathRefused, normalize_path, passthrough_allowed
from comfyweb.agent.service import Agent

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def passthrough_path(agent: Agent, scope: Scope) -> str | None:
    """The normalised path to forward to ComfyUI, or None when the passthrough does not serve it."""
    raw = scope.get("raw_path")
    try:
        path = normalize_path(raw.decode("latin-1") if raw else scope["path"])
    except PathRefused as exc:
        raise RequestError(f"{scope['path']!r} is refused: {exc}") from exc
    return path if passthrough_allowed(path, agent.settings.passthrough, agent.settings.passthrough_ui) else None


async def proxy_http(request: Request) -> Response:
    agent = api.agent_of(request)
    path = passthrough_path(agent, request.scope)
    if path is None:
        raise RequestError(f"{request.url.path} is not served (see --passthrough)", 404, "NotFoundError")
    return await agent.proxy.http_request(request, path)


async def proxy_ws(websocket: WebSocket) -> None:
    agent = api.agent_of(websocket)
    try:
        path = passthrough_path(agent, websocket.scope)
    except RequestError:
        path = None
    if path is None:
        await websocket.close(code=4404)
        return
    await agent.proxy.websocket(websocket, path)


class AutoStart:
    """Starts the agent on the first request when no ASGI lifespan did."""

    def __init__(self, app: ASGIApp, agent: Agent) -> None:
        self.app, self.agent = app, agent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and not self.agent.started:
            await self.agent.start()
        await self.app(scope, receive, send)


def build_asgi(agent: Agent) -> ASGIApp:
    """Routes with their exception handlers and lifespan; then token, origin, CORS and host checks outside."""
    routes = [
        Route("/api/run", api.run, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]),
        WebSocketRoute("/api/run/ws", api.run_ws),
        Route("/api/status", api.status, methods=["GET"]),
        Route("/api/health", api.health, methods=["GET"]),
        Route("/api/ready", api.ready, methods=["GET"]),
        Route("/metrics", api.metrics, methods=["GET"]),
        Route("/{path:path}", proxy_http, methods=ALL_METHODS),
        WebSocketRoute("/{path:path}", proxy_ws),
    ]
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=_lifespan(agent))
    app.state.agent = agent
    settings = agent.settings
    guarded: ASGIApp = SameOrigin(TokenAuth(app, settings.token), settings.cors_origins)
    guarded = ApiCors(guarded, settings.cors_origins)  # preflights need no token
    if is_loopback_host(settings.host):
        guarded = LoopbackHost(guarded, settings.allowed_hosts)
    return AutoStart(guarded, agent)


def _lifespan(agent: Agent):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        await agent.start()
        try:
            yield
        finally:
            await agent.stop()

    return lifespan
