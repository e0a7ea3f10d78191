"""Every path the agent does not serve itself goes to ComfyUI unchanged, so ComfyUI's UI works through it.

HTTP bodies stream both ways (uploads and `/view` downloads are never held whole in memory);
the `Host` and `Origin` headers pass through, so ComfyUI's own origin check sees what the
browser sent. `/ws` (and any WebSocket path) is relayed frame by frame in both directions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import websockets
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from comfyweb.core.aio import until_first_done

logger = logging.getLogger(__name__)

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

    async def http_request(self, request: Request) -> Response:
        headers = [
            (name, value)
            for name, value in request.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP | AGENT_ONLY
        ]
        has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") or "content-length" in request.headers
        outgoing = self.http.build_request(
            request.method,
            request.url.path,
            params=request.url.query.encode("latin-1") if request.url.query else None,
            headers=headers,
            content=_body(request) if has_body else None,
        )
        try:
            upstream = await self.http.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            logger.warning("proxy %s %s: %s", request.method, request.url.path, exc)
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

    async def websocket(self, client: WebSocket) -> None:
        """Relay a WebSocket to ComfyUI; either side closing closes the other."""
        headers = [(key, value) for key, value in client.headers.items() if key.lower() not in WS_SKIP]
        url = self.ws_url(client.url.path, client.url.query)
        try:
            upstream = await websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=10)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
            logger.warning("proxy websocket %s: %s", client.url.path, exc)
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
