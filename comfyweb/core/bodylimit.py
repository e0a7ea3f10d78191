"""The request body's size, bounded before anything below the server reads it (the outermost ASGI layer).

Django's own limits (DATA_UPLOAD_MAX_MEMORY_SIZE) apply when a view reads the form, after the whole body
has been received; a body sent to a URL that never reads it (`/healthz`) would still be taken in. Here a
body over the limit is refused from its `Content-Length` before a byte of it is read, and a body without
one (`Transfer-Encoding: chunked`) by a running count: past the limit the application is told the client
left (`http.disconnect`, Django then answers nothing) and the client gets 413 with `Connection: close`, so
the server reads no more of it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DISCONNECT: Message = {"type": "http.disconnect"}


def declared_length(scope: Scope) -> int | None:
    """The request's `Content-Length` (None when absent); ValueError when it is not one number."""
    values = {value for name, value in scope.get("headers", ()) if name.lower() == b"content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise ValueError("conflicting Content-Length headers")
    text = values.pop().strip()
    if not text.isdigit():
        raise ValueError("Content-Length is not a number")
    return int(text)


def refusal_message(limit: int) -> tuple[str, str]:
    """The refusal in both site languages (this layer runs before Django knows the visitor's language)."""
    mb = max(1, limit // 2**20)
    return (f"The request is too large: at most {mb} MB.", f"请求内容过大：最多 {mb} MB。")


async def send_refusal(send: Send, scope: Scope, status: int, english: str, chinese: str) -> None:
    """A short answer that closes the connection (a body left unread cannot be followed by another request)."""
    if scope.get("path", "").startswith("/api/"):
        body = json.dumps({"detail": english, "code": "too_large" if status == 413 else "bad_request"}).encode()
        content_type = b"application/json"
    else:
        body = f"{chinese}\n{english}\n".encode()
        content_type = b"text/plain; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse HTTP request bodies over `max_bytes` (413) before the application reads them.

    `max_bytes` may be a callable, read at each request (the settings of a running test may change).
    """

    def __init__(self, app: ASGIApp, max_bytes: int | Callable[[], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def limit(self) -> int:
        return self.max_bytes() if callable(self.max_bytes) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        try:
            length = declared_length(scope)
        except ValueError as exc:
            await send_refusal(send, scope, 400, f"Bad request: {exc}.", "请求无效。")
            return
        if length is not None and length > limit:
            await send_refusal(send, scope, 413, *refusal_message(limit))
            return
        await CountedRequest(self.app, scope, receive, send, limit).run()


class CountedRequest:
    """One request whose body is counted as the application receives it."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self.app, self.scope, self._receive, self._send, self.limit = app, scope, receive, send, limit
        self.received = 0
        self.refused = False
        self.response_started = False

    async def run(self) -> None:
        await self.app(self.scope, self.receive, self.send)
        if self.refused and not self.response_started:
            await send_refusal(self._send, self.scope, 413, *refusal_message(self.limit))

    async def receive(self) -> Message:
        if self.refused:
            return DISCONNECT
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True  # the application hears that the client left; the client hears 413
                return DISCONNECT
        return message

    async def send(self, message: Message) -> None:
        if self.refused and not self.response_started:
            return  # the refusal answers instead
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)
