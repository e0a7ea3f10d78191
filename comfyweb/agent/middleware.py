"""Who may call the agent, checked before a route reads anything: host, origin, token, CORS.

Outermost first (app.py assembles them):

* `LoopbackHost` — an agent listening on loopback answers only requests whose `Host` is a loopback
  name or one of `AGENT_ALLOWED_HOSTS`. A web page cannot reach it by pointing a name of its own at
  127.0.0.1 (DNS rebinding): the browser sends that name as `Host`. 400 `InvalidHostError`.
* `ApiCors` — CORS for `/api/*` only, for the origins in `AGENT_CORS_ORIGINS` (never "any origin with
  credentials"); ComfyUI's own paths keep ComfyUI's behaviour. Preflights need no token.
* `SameOrigin` — a request made by a web page of another origin (its `Origin` is neither the
  agent's own host nor one of `AGENT_CORS_ORIGINS`) may not open a WebSocket (Cross-Site WebSocket
  Hijacking: 403 at the handshake) nor use any method but GET, HEAD and OPTIONS (a form or `text/plain`
  post to the passthrough's `/prompt` needs no CORS preflight: 403 `ForbiddenOriginError`), as
  ComfyUI's own origin middleware refuses them. `/api/run` besides only takes JSON bodies (api.py).
* `TokenAuth` — with `AGENT_TOKEN` set, every route needs `Authorization: Bearer <token>` (a WebSocket
  may give `?token=` instead: browsers cannot set headers on one), except `/api/health` and
  `/api/ready`, which platforms probe without credentials and which reveal nothing. Both sides are
  compared without surrounding blanks (settings strip the token; a blank one is no token), in
  constant time. 401 `UnauthorizedError`, or a refused WebSocket.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from comfyweb.agent.config import is_loopback_host

API_PREFIX = "/api/"
OPEN_PATHS = frozenset({"/api/health", "/api/ready"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CORS_HEADERS = ["authorization", "content-type", "task-id", "x-fc-invocation-type", "x-callback-url",
                "x-task-timeout", "x-agent-results"]  # fmt: skip


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, error_type: str, message: str,
                  ws_code: int, headers: dict | None = None) -> None:  # fmt: skip
    """Refuse a request before it reaches a route: a JSON envelope, or a WebSocket handshake refused."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": ws_code})
        return
    response = JSONResponse({"message": error_type, "error": message}, status_code=status, headers=headers)
    await response(scope, receive, send)


def _hostname(authority: str) -> str | None:
    """The host name of a `Host` header or an origin's authority, lower case, without port or brackets."""
    try:
        name = urlsplit("//" + authority.strip()).hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


class LoopbackHost:
    """Answers only the loopback names and `allowed` names (module docstring)."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = {name.strip().lower().rstrip(".") for name in allowed if name.strip()}

    def host_ok(self, host: str | None) -> bool:
        if host is None:  # HTTP/1.0 without a Host: not a browser
            return True
        name = _hostname(host)
        return name is not None and (is_loopback_host(name) or name in self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.host_ok(Headers(scope=scope).get("host")):
            message = "this agent answers only for its loopback names or AGENT_ALLOWED_HOSTS"
            await _refuse(scope, receive, send, 400, "InvalidHostError", message, ws_code=4400)
            return
        await self.app(scope, receive, send)


def foreign_origin(headers: Headers, allowed: set[str]) -> bool:
    """Whether a browser sent this from a page of another origin than the agent's own (or an allowed one)."""
    origin = headers.get("origin")
    if origin is None:
        return False  # not a browser, or a same-origin navigation
    origin = origin.strip().rstrip("/").lower()
    if origin in allowed:
        return False
    if origin == "null":  # a sandboxed frame or a local file
        return True
    try:
        page = urlsplit(origin)
        host = urlsplit("//" + headers.get("host", "").strip().lower())
        page_port, host_port = page.port, host.port
    except ValueError:
        return True
    if page.hostname != host.hostname:
        return True
    return page_port is not None and host_port is not None and page_port != host_port


class SameOrigin:
    """Refuses cross-origin WebSockets and cross-origin changes through the passthrough (module docstring)."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app, self.origins = app, {origin.strip().rstrip("/").lower() for origin in origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        guarded = kind == "websocket" or (kind == "http" and scope["method"] not in SAFE_METHODS)
        if guarded and foreign_origin(Headers(scope=scope), self.origins):
            message = "a page of another origin may not do this (set AGENT_CORS_ORIGINS to allow one)"
            await _refuse(scope, receive, send, 403, "ForbiddenOriginError", message, ws_code=4403)
            return
        await self.app(scope, receive, send)


def given_token(scope: Scope) -> str:
    """The bearer token of a request (or `?token=` of a WebSocket), without surrounding blanks."""
    authorization = Headers(scope=scope).get("authorization", "")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scope["type"] == "websocket":
        return QueryParams(scope.get("query_string", b"")).get("token", "").strip()
    return ""


class TokenAuth:
    """Requires the bearer token on every route but the probes; 401 JSON (or a refused WebSocket)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token.strip().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.token or scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = given_token(scope).encode()
        if given and hmac.compare_digest(given, self.token):
            await self.app(scope, receive, send)
            return
        await _refuse(scope, receive, send, 401, "UnauthorizedError", "a valid bearer token is required",
                      ws_code=4401, headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


class ApiCors:
    """CORS for `/api/*` only (ComfyUI's own paths keep ComfyUI's behaviour)."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = None
        if origins:
            self.cors = CORSMiddleware(
                app,
                allow_origins=list(origins),
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=CORS_HEADERS,
                expose_headers=["task-id"],
                allow_credentials=False,
                max_age=600,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cors is not None and scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
