"""The passthrough: ComfyUI's API routes (and `/ws`) reached through the agent, streamed unchanged.

Which paths pass (`--passthrough`): `api`, ComfyUI's routes that the product and fc-comfyui clients
use (`PASSTHROUGH_API_PATHS`, each also under `/api/` as ComfyUI serves them); `--passthrough-ui`
adds ComfyUI's web UI; `all` every path; `none` nothing. ComfyUI-Manager and other plugin routes stay
out of reach.

A path is normalised once, before the allowlist sees it, and the normalised path is what is
forwarded: duplicate slashes collapse, dot segments (`.`, `..`, also percent-encoded) are resolved,
and a segment holding an encoded slash (`%2F`, which ComfyUI's UI uses inside user-data file names)
keeps it but may not hide a dot segment (`/history%2F..%2Femulator%2Ffaults` is refused). So
`/history/../manager/reboot` is `/manager/reboot` for the allowlist and for ComfyUI alike.

HTTP bodies stream both ways (uploads and `/view` downloads are never held whole in memory);
the `Host` and `Origin` headers pass through, so ComfyUI's own origin check sees what the
browser sent. `/ws` (and any WebSocket path) is relayed frame by frame in both directions.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

import httpx
import websockets
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from comfyweb.core.aio import until_first_done

logger = logging.getLogger(__name__)

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
DOT_SEGMENTS = frozenset({".", ".."})
ENCODED_SEPARATOR = re.compile(r"[/\\]")  # what a decoded segment may hold that a client encoded
SEGMENT_SAFE = "!$&'()*+,;=:@~-._"  # RFC 3986 pchar: left as is when a segment is encoded again


class PathRefused(ValueError):
    """A path whose meaning would depend on who decodes it."""


def normalize_path(raw_path: str) -> str:
    """The one form of a request path the allowlist checks and ComfyUI gets (see the module docstring).

    `raw_path` is the path as sent (percent-encoded). Raises PathRefused for a dot segment hidden behind
    an encoded slash, or a NUL.
    """
    segments: list[str] = []
    raw_segments = raw_path.split("/")
    for raw in raw_segments:
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError as exc:
            raise PathRefused("the path is not UTF-8 once decoded") from exc
        if "\x00" in segment:
            raise PathRefused("the path holds a NUL character")
        if ENCODED_SEPARATOR.search(segment) and DOT_SEGMENTS & set(ENCODED_SEPARATOR.split(segment)):
            raise PathRefused("the path hides a dot segment behind an encoded slash")
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    path = "/" + "/".join(quote(segment, safe=SEGMENT_SAFE) for segment in segments)
    if segments and raw_segments[-1] in ("", ".", "..") and len(raw_segments) > 1:
        path += "/"  # `/assets/` stays a folder
    return path


def passthrough_allowed(path: str, mode: str, ui: bool) -> bool:
    """Whether a normalised `path` may be passed on to ComfyUI (see the module docstring)."""
    if mode == "all":
        return True
    if mode == "none":
        return False
    path = unquote(path)  # an encoded slash counts as a slash here: `/history%2Fx` is under `/history/`
    bare = path[len("/api") :] if path.startswith("/api/") else path
    if bare in PASSTHROUGH_API_PATHS or bare.startswith(PASSTHROUGH_API_PREFIXES):
        return True
    if ui:
        return path in PASSTHROUGH_UI_PATHS or path.startswith(PASSTHROUGH_UI_PREFIXES) or bool(STATIC_FILE.match(path))
    return False


HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Headers the agent consumes itself; ComfyUI must not see the agent's token.
AGENT_ONLY = frozenset({"authorization"})
# The WebSocket library writes its own handshake headers; Origin is left out because the upstream Host is
# ComfyUI's own address, which ComfyUI's origin check would find different from the browser's Origin.
WS_HANDSHAKE = frozenset({"host", "origin", "content-length"}) | {
    f"sec-websocket-{name}" for name in ("key", "version", "extensions", "protocol", "accept")
}
WS_SKIP = HOP_BY_HOP | AGENT_ONLY | WS_HANDSHAKE


class ComfyProxy:
    """Forwards requests to one ComfyUI base URL."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        # No read timeout: /view of a large file or a long poll may legitimately take time.
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, read=None),
            trust_env=False,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def ws_url(self, path: str, query: str) -> str:
        base = self.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}{path}" + (f"?{query}" if query else "")

    async def http_request(self, request: Request, path: str) -> Response:
        """Forward `request` to ComfyUI's `path` (normalised) and stream the answer back."""
        headers = [
            (name, value)
            for name, value in request.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP | AGENT_ONLY
        ]
        has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") or "content-length" in request.headers
        outgoing = self.http.build_request(
            request.method,
            path,
            params=request.url.query.encode("latin-1") if request.url.query else None,
            headers=headers,
            content=_body(request) if has_body else None,
        )
        try:
            upstream = await self.http.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            logger.warning("proxy %s %s: %s", request.method, path, exc)
            return JSONResponse(
                {"message": "ComfyUIUnavailableError", "error": f"ComfyUI is unreachable: {exc or type(exc).__name__}"},
                status_code=502,
            )
        response_headers = [
            (name, value) for name, value in upstream.headers.raw if name.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        response = StreamingResponse(_stream(upstream), status_code=upstream.status_code)
        response.raw_headers = response_headers  # exactly ComfyUI's (content-length, encoding included)
        return response

    async def websocket(self, client: WebSocket, path: str) -> None:
        """Relay a WebSocket to ComfyUI's `path` (normalised); either side closing closes the other."""
        headers = [(key, value) for key, value in client.headers.items() if key.lower() not in WS_SKIP]
        url = self.ws_url(path, client.url.query)
        try:
            upstream = await websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=10)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
            logger.warning("proxy websocket %s: %s", path, exc)
            await client.close(code=1011 if status is None else 4000 + min(status, 999))
            return
        await client.accept()
        try:
            await until_first_done(_client_to_upstream(client, upstream), _upstream_to_client(upstream, client))
        finally:
            await upstream.close()
            with contextlib.suppress(RuntimeError):
                await client.close()


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


async def _stream(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    finally:
        await upstream.aclose()


async def _client_to_upstream(client: WebSocket, upstream) -> None:
    with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
        while True:
            message = await client.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])


async def _upstream_to_client(upstream, client: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, ConnectionClosed, RuntimeError):
        async for message in upstream:
            if isinstance(message, bytes):
                await client.send_bytes(message)
            else:
                await client.send_text(message)
