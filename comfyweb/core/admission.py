"""How many HTTP requests a web process works on at once; the others wait their turn, in arrival order.

Under ASGI, Django runs every request's synchronous part in a thread of its own. In a crowd (a campaign's
spike: hundreds of phones uploading photos at once) a process would run hundreds of such threads: each
holding its upload and decoded photos in memory, each holding a pooled database connection from its
first query to its end, all competing for the GIL with the event loop that every request hops through.
Memory grows with the crowd, the pool runs dry, and every request slows down together.

Here at most `limit` HTTP requests are inside the application at once; the next ones wait on the event
loop before a byte of their body is read (the body stays in the socket, not in the process), first come
first served. A request leaves its place when its response starts (a streamed download goes on without
holding one). WebSockets and the probes (`/healthz`, `/readyz`) never wait: a socket lives for minutes
and the probes must answer while the process is busy.

Uploads (a body over UPLOAD_BYTES, or of unknown length) first wait in a line of their own, at most
`upload_limit` of them inside at once: a crowd of phones sending photos then takes only some of the places,
and a page, a status read or a small form waits behind a few uploads, never behind the whole crowd's.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from comfyweb.core.bodylimit import ASGIApp, Message, Receive, Scope, Send

NEVER_WAIT = frozenset({"/healthz", "/readyz"})
UPLOAD_BYTES = 64 * 1024  # a body larger than a form's fields: a photo


def is_upload(scope: Scope) -> bool:
    """Whether the request announces a large body, or one of unknown length (chunked)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return not value.isdigit() or int(value) > UPLOAD_BYTES
        if name == b"transfer-encoding":
            return True
    return False


class Line:
    """A semaphore made on the server's loop when first needed, remade when its size setting changes."""

    def __init__(self, size: int | Callable[[], int]) -> None:
        self.size = size
        self._semaphore: asyncio.Semaphore | None = None
        self._made_for = 0

    def places(self) -> asyncio.Semaphore | None:
        """None when the setting is 0 (no limit)."""
        size = self.size() if callable(self.size) else self.size
        if size <= 0:
            return None
        if self._semaphore is None or size != self._made_for:
            self._semaphore, self._made_for = asyncio.Semaphore(size), size
        return self._semaphore


class AdmissionMiddleware:
    """Let at most `limit` HTTP requests into `app` at once, of them at most `upload_limit` uploads.

    Either may be a callable (read per request) and 0 means no limit.
    """

    def __init__(self, app: ASGIApp, limit: int | Callable[[], int], upload_limit: int | Callable[[], int] = 0) -> None:
        self.app = app
        self.requests, self.uploads = Line(limit), Line(upload_limit)
        self.inside = 0  # requests in the application now
        self.waiting = 0  # requests in either line
        _GATES.add(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in NEVER_WAIT:
            await self.app(scope, receive, send)
            return
        lines = [self.uploads, self.requests] if is_upload(scope) else [self.requests]
        admitted = Admitted(self)
        try:
            await admitted.enter(lines)
            await self.app(scope, receive, admitted.send(send))
        finally:
            admitted.leave()


_GATES: weakref.WeakSet[AdmissionMiddleware] = weakref.WeakSet()


def requests_inside() -> int:
    """HTTP requests this process works on now, over its admission layers (the /metrics gauges)."""
    return sum(gate.inside for gate in _GATES)


def requests_waiting() -> int:
    """HTTP requests waiting for a place in this process."""
    return sum(gate.waiting for gate in _GATES)


class Admitted:
    """One request's places: taken line by line, given back once, when its response starts or when it ends."""

    def __init__(self, gate: AdmissionMiddleware) -> None:
        self.gate, self.inside = gate, False
        self.held: list[asyncio.Semaphore] = []

    async def enter(self, lines: list[Line]) -> None:
        """Wait for a place in each line in turn (the upload line first, then the common one)."""
        self.gate.waiting += 1
        try:
            for places in filter(None, (line.places() for line in lines)):
                await places.acquire()
                self.held.append(places)
        finally:
            self.gate.waiting -= 1
        self.inside = True
        self.gate.inside += 1

    def leave(self) -> None:
        if self.inside:
            self.inside = False
            self.gate.inside -= 1
        while self.held:
            self.held.pop().release()

    def send(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.leave()
            await send(message)

        return sending
