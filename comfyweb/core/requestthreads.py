"""Django's request handler with the request threads kept for the next requests, not made anew each time.

Under ASGI, Django runs each request's synchronous part (middleware, view, ORM) in a thread of its own:
`ASGIHandler` opens a `ThreadSensitiveContext`, which makes a one-thread executor per request, starts its
thread on the first call and, at the end, starts one more thread to join it. A thread start blocks the
event loop until the new thread holds the GIL; in a crowd, with photo decodes and queries in the other
threads, that is milliseconds per start, twice per request, while every other connection of the process
waits (measured in the spike bench: a fifth of the event loop's busy time went to `Thread.start`).

Here each request borrows an idle one-thread executor and gives it back when the request ends, as a
WSGI server's thread pool does: its synchronous calls still run one at a time in one thread (what
thread-sensitive code such as the database connections needs), and the thread lives on for the next
request. Django's `request_finished` has already given the database connection back by then.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

MOST_KEPT_IDLE = 32  # threads kept between requests (a process lets WEB_REQUESTS_AT_ONCE requests in at once)


class RequestThread(ThreadPoolExecutor):
    """A one-thread executor that knows whether a call is still running or waiting in it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._lock = threading.Lock()
        self.unfinished = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            self.unfinished += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future) -> None:
        with self._lock:
            self.unfinished -= 1


class RequestThreads:
    """Idle request threads, last returned first out (its thread and caches are the warmest)."""

    def __init__(self, most_kept: int = MOST_KEPT_IDLE) -> None:
        self.most_kept = most_kept
        self._idle: list[RequestThread] = []
        self._lock = threading.Lock()
        self.made = 0

    def take(self) -> RequestThread:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.made += 1
        return RequestThread()

    def give_back(self, thread: RequestThread) -> None:
        """Keep an idle thread for the next request. One still busy (a request cancelled while its view
        ran on) or beyond the number kept is let go: it ends once its last call returns."""
        with self._lock:
            if thread.unfinished == 0 and len(self._idle) < self.most_kept:
                self._idle.append(thread)
                return
        thread.shutdown(wait=False)

    @property
    def idle(self) -> int:
        return len(self._idle)


class KeptThreadsASGIHandler(ASGIHandler):
    """`ASGIHandler` whose requests run their synchronous parts in threads borrowed from `threads`."""

    def __init__(self, threads: RequestThreads | None = None) -> None:
        super().__init__()
        self.threads = threads if threads is not None else RequestThreads()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(thread)
