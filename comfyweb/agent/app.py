"""The GPU agent as one ASGI application: its API, the ComfyUI passthrough, and their shared parts.

`Agent(settings)` holds the store, the task runner, the optional ComfyUI supervisor, the
metrics and the proxy. `agent.start()` and `agent.stop()` run from the ASGI lifespan events
(uvicorn sends them, see server.py); a caller may also await them itself around serving, and the
first request starts an agent nobody started.

Security:

* with `AGENT_TOKEN` set, every route needs `Authorization: Bearer <token>` (a WebSocket may
  give `?token=` instead, as browsers cannot set headers on one), except `/api/health` and
  `/api/ready`, which load balancers and serverless platforms probe without credentials and which
  reveal nothing. The check runs before anything of the request is read. Without a token the
  agent listens on loopback only, unless `--no-auth` says the platform in front authenticates
  (config.exposure_problem);
* a WebSocket opened by a web page of another origin (its `Origin` is neither the agent's own
  host nor one of `AGENT_CORS_ORIGINS`) is refused (close 4403): a page cannot drive the agent
  with its visitor's network position; `/api/run` itself only takes JSON bodies (api.py), which a
  cross-site page cannot send without a CORS preflight;
* CORS applies to `/api/*` only, for the origins in `AGENT_CORS_ORIGINS` (never "any origin with
  credentials");
* only ComfyUI's API routes pass through (`PASSTHROUGH_API`; `--passthrough-ui` adds ComfyUI's
  web UI, `--passthrough all` every path, `none` nothing): ComfyUI-Manager and other plugin routes
  stay out of reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from comfyweb.agent import api
from comfyweb.agent.config import AgentSettings
from comfyweb.agent.metrics import AgentMetrics
from comfyweb.agent.proxy import ComfyProxy
from comfyweb.agent.runner import RunOptions, Task, TaskRunner, orphaned
from comfyweb.agent.stores import TaskStore, open_store
from comfyweb.agent.supervisor import ComfySupervisor, comfyui_answers
from comfyweb.agent.webhooks import deliver
from comfyweb.comfy.prompt import normalize_prompt

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
OPEN_PATHS = frozenset({"/api/health", "/api/ready"})
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
COMFYUI_PROBE_TTL = 1.0

# ComfyUI's routes that the product and fc-comfyui clients use (each also under /api/, as ComfyUI serves
# them), and the emulator's self-description the web probes.
PASSTHROUGH_API_PATHS = frozenset({
    "/prompt", "/queue", "/history", "/interrupt", "/object_info", "/system_stats", "/embeddings", "/models",
    "/extensions", "/ws", "/view", "/upload/image", "/upload/mask", "/features", "/emulator/info",
})  # fmt: skip
PASSTHROUGH_API_PREFIXES = ("/history/", "/object_info/", "/models/")
# ComfyUI's web UI (--passthrough-ui): its page and static files, and the routes the page itself calls.
PASSTHROUGH_UI_PATHS = frozenset({"/", "/index.html", "/user.css", "/favicon.ico", "/workflow_templates"})
PASSTHROUGH_UI_PREFIXES = (
    "/assets/", "/extensions/", "/templates/", "/scripts/", "/lib/", "/fonts/", "/docs/", "/internal/",
    "/api/userdata", "/api/v2/userdata", "/api/users", "/api/settings", "/api/i18n", "/api/experiment/",
    "/api/workflow_templates", "/api/view_metadata/", "/api/node_replacements",
)  # fmt: skip
STATIC_FILE = re.compile(r"\A/[\w.-]+\.(?:js|mjs|css|ico|png|svg|json|woff2?|ttf|map|html|webmanifest)\Z")


def passthrough_allowed(path: str, mode: str, ui: bool) -> bool:
    """Whether `path` may be passed on to ComfyUI (see the module docstring)."""
    if mode == "all":
        return True
    if mode == "none":
        return False
    bare = path[len("/api") :] if path.startswith("/api/") else path
    if bare in PASSTHROUGH_API_PATHS or bare.startswith(PASSTHROUGH_API_PREFIXES):
        return True
    if ui:
        return path in PASSTHROUGH_UI_PATHS or path.startswith(PASSTHROUGH_UI_PREFIXES) or bool(STATIC_FILE.match(path))
    return False


class Agent:
    """One agent instance in front of one ComfyUI."""

    def __init__(self, settings: AgentSettings, store: TaskStore | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(settings.store_url, ttl=settings.record_ttl)
        self.metrics = AgentMetrics(settings.concurrency)
        self.supervisor: ComfySupervisor | None = None
        if settings.comfyui_cmd:
            self.supervisor = ComfySupervisor(
                settings.comfyui_cmd,
                settings.comfyui_url,
                on_exit=self._comfyui_exited,
                on_restart=self.metrics.comfyui_restarts.inc,
                start_timeout=settings.supervisor_start_timeout,
            )
        self.runner = TaskRunner(
            settings,
            self.store,
            self.metrics,
            wait_for_comfyui=self._wait_for_comfyui if self.supervisor else None,
            on_stall=self.supervisor.restart if self.supervisor else None,
            on_final=self._task_final,
        )
        self.proxy = ComfyProxy(settings.comfyui_url, timeout=settings.comfyui_request_timeout)
        self.warm = asyncio.Event()
        self.started = False
        self._start_lock = asyncio.Lock()
        self._probe: tuple[float, bool] = (0.0, False)
        self._warmup_task: asyncio.Task | None = None
        self.asgi = build_asgi(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and not self.started:
            await self.start()
        await self.asgi(scope, receive, send)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._start_lock:
            if self.started:
                return
            self.started = True
            if self.supervisor is not None:
                await self.supervisor.start()
            await self.runner.start()
            warmup = self.settings.warmup()
            if warmup is None:
                self.warm.set()
            else:
                self._warmup_task = asyncio.create_task(self._warm_up(warmup))
            logger.info(
                "GPU agent for %s: store %s, concurrency %s", self.settings.comfyui_url, self.settings.store_url,
                self.settings.concurrency,
            )  # fmt: skip

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        if self._warmup_task is not None:
            self._warmup_task.cancel()
        await self.runner.stop()
        if self.supervisor is not None:
            await self.supervisor.stop()
        await self.proxy.aclose()
        await self.store.close()

    async def _warm_up(self, path: Path) -> None:
        """Run the warm-up prompt once (loads models into VRAM); ready only after it has finished."""
        try:
            prompt = normalize_prompt(json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8")))
            task = await self.runner.submit(
                prompt, f"warmup-{self.settings.instance}", RunOptions(results=False, timeout=self.settings.max_timeout)
            )
            await task.done.wait()
            logger.info("warm-up finished: %s", task.status)
        except Exception:
            logger.exception("the warm-up prompt %s could not run", path)
        finally:
            self.warm.set()

    async def _wait_for_comfyui(self) -> None:
        assert self.supervisor is not None
        await self.supervisor.wait_until_up(self.settings.supervisor_start_timeout)

    async def _comfyui_exited(self, code: int | None) -> None:
        self.metrics.comfyui_up.set(0)
        self.runner.comfyui_died(f"ComfyUI exited (code {code}) during the run; it is being restarted")

    async def _task_final(self, task: Task, record: dict) -> None:
        if task.options.callback_url:
            await deliver(
                task.options.callback_url,
                task.id,
                record["progress"],
                secret=self.settings.webhook_secret,
                policy=self.runner.policy.fetch_policy,
                retry_delay=self.settings.webhook_retry_delay,
            )

    # --- state ----------------------------------------------------------------------------------

    async def record(self, task_id: str) -> dict | None:
        """A task's record: live from this instance when it runs here, else from the store.

        A stored record whose agent died is marked failed (`agent restarted`) as it is read.
        """
        task = self.runner.tasks.get(task_id)
        if task is not None:
            return task.record(self.settings.instance)
        record = await self.store.get(task_id)
        if record is not None and orphaned(record, self.settings):
            record = await self.runner.adopt_orphan(record)
        return record

    async def comfyui_up(self) -> bool:
        checked, up = self._probe
        if time.monotonic() - checked > COMFYUI_PROBE_TTL:
            if self.supervisor is not None and not self.supervisor.up.is_set():
                up = False
            else:
                up = await comfyui_answers(self.settings.comfyui_url, timeout=2.0)
            self._probe = (time.monotonic(), up)
            self.metrics.comfyui_up.set(1 if up else 0)
        return up

    async def not_ready_reasons(self) -> list[str]:
        reasons = []
        if not await self.comfyui_up():
            reasons.append("ComfyUI is not answering")
        if not self.warm.is_set():
            reasons.append("the warm-up prompt has not finished")
        if self.runner.queue_full():
            reasons.append("the queue is full")
        try:
            await asyncio.wait_for(self.store.ping(), 3)
        except Exception as exc:
            reasons.append(f"the task store is unusable: {exc}")
        self.metrics.ready.set(0 if reasons else 1)
        return reasons

    async def refresh_gauges(self) -> None:
        await self.not_ready_reasons()
        self.metrics.queue_depth.set(self.runner.queue_depth)
        self.metrics.running_tasks.set(self.runner.running)


# --- ASGI assembly ---------------------------------------------------------------------------------


def _passes(agent: Agent, path: str) -> bool:
    return passthrough_allowed(path, agent.settings.passthrough, agent.settings.passthrough_ui)


async def proxy_http(request: Request):
    agent = api.agent_of(request)
    if not _passes(agent, request.url.path):
        return JSONResponse(
            {"message": "NotFoundError", "error": f"{request.url.path} is not served (see --passthrough)"},
            status_code=404,
        )
    return await agent.proxy.http_request(request)


async def proxy_ws(websocket: WebSocket) -> None:
    agent = api.agent_of(websocket)
    if not _passes(agent, websocket.url.path):
        await websocket.close(code=4404)
        return
    await agent.proxy.websocket(websocket)


def bearer_ok(scope: Scope, token: str) -> bool:
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
    given = headers.get("authorization", "")
    if given.lower().startswith("bearer "):
        given = given[7:].strip()
    elif scope["type"] == "websocket":
        given = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [""])[0]
    else:
        given = ""
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


class TokenAuth:
    """Requires the bearer token on every route but the probes; 401 JSON (or a refused WebSocket)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.token or scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if bearer_ok(scope, self.token):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        response = JSONResponse(
            {"message": "UnauthorizedError", "error": "a valid bearer token is required"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


class WebSocketOrigin:
    """Refuses a WebSocket opened by a page of another origin (Cross-Site WebSocket Hijacking).

    Allowed: no `Origin` (not a browser), the agent's own host (ComfyUI's UI through the agent), and
    the origins of `AGENT_CORS_ORIGINS`.
    """

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app, self.origins = app, {origin.rstrip("/").lower() for origin in origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin").strip().rstrip("/").lower()
            if origin and origin != "null" and origin not in self.origins:
                host = _header(scope, b"host").strip().lower()
                if (urlparse(origin).netloc or "") != host:
                    await send({"type": "websocket.close", "code": 4403})
                    return
            elif origin == "null":
                await send({"type": "websocket.close", "code": 4403})
                return
        await self.app(scope, receive, send)


class ApiCors:
    """CORS for `/api/*` only (ComfyUI's own paths keep ComfyUI's behaviour)."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = (
            CORSMiddleware(
                app,
                allow_origins=list(origins),
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "task-id",
                    "x-fc-invocation-type",
                    "x-callback-url",
                    "x-task-timeout",
                    "x-agent-results",
                ],
                expose_headers=["task-id"],
                allow_credentials=False,
                max_age=600,
            )
            if origins
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cors is not None and scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def build_asgi(agent: Agent) -> ASGIApp:
    """Routes, then the token check, the WebSocket origin check, and CORS outermost (preflights need no token)."""
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
    app = Starlette(routes=routes, lifespan=_lifespan(agent))
    app.state.agent = agent
    guarded = WebSocketOrigin(TokenAuth(app, agent.settings.token), agent.settings.cors_origins)
    return ApiCors(guarded, agent.settings.cors_origins)


def _lifespan(agent: Agent):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        await agent.start()
        try:
            yield
        finally:
            await agent.stop()

    return lifespan
