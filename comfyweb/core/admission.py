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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from comfyweb.core.bodylimit import ASGIApp, Message, Receive, Scope, Send

NEVER_WAIT = frozenset({"/healthz", "/readyz"})


class AdmissionMiddleware:
    """Let at most `limit` HTTP requests into `app` at once (0: no limit); `limit` may be a callable."""

    def __init__(self, app: ASGIApp, limit: int | Callable[[], int]) -> None:
        self.app = app
        self.limit = limit
        self._places: asyncio.Semaphore | None = None
        self._size = 0
        self.inside = 0  # requests in the application now (read by the tests)
        self.waiting = 0

    def places(self) -> asyncio.Semaphore | None:
        size = self.limit() if callable(self.limit) else self.limit
        if size <= 0:
            return None
        if self._places is None or size != self._size:  # made on the server's loop; remade if the limit changed
            self._places, self._size = asyncio.Semaphore(size), size
        return self._places

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        places = self.places() if scope["type"] == "http" and scope.get("path") not in NEVER_WAIT else None
        if places is None:
            await self.app(scope, receive, send)
            return
        self.waiting += 1
        try:
            await places.acquire()
        finally:
            self.waiting -= 1
        admitted = Admitted(places, self)
        try:
            await self.app(scope, receive, admitted.send(send))
        finally:
            admitted.leave()


class Admitted:
    """One request's place: given up once, when its response starts or when it ends."""

    def __init__(self, places: asyncio.Semaphore, gate: AdmissionMiddleware) -> None:
        self.places, self.gate, self.left = places, gate, False
        gate.inside += 1

    def leave(self) -> None:
        if not self.left:
            self.left = True
            self.gate.inside -= 1
            self.places.release()

    def send(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.leave()
            await send(message)

        return sending
