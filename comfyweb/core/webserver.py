"""The web role's one server stack: the site's ASGI application (pages, REST API, job WebSockets) under uvicorn.

Why not daphne (it stays for `runserver` only): Twisted's HTTP request, under daphne, reads the whole
body before the application is called and parses a multipart or urlencoded one into memory on its own
(`Request.requestReceived`, ~12x the body: 100 MB cost +1.2 GB); with that parsing switched off, daphne
still hands the body over in one go (+1x), and nothing can refuse a body from its Content-Length before
it is read. uvicorn hands the body over as it arrives (reading pauses above 64 KiB not yet taken), so the
outermost layer (comfyweb.core.bodylimit) refuses it first; the same server already runs the GPU agent.
Measured in docs/architecture.md ("One server stack per process").

`web_server_config()` is the one place the web server is configured: `manage.py web` (the scaled-out web
command) and `manage.py serve` (embedded, with the dispatcher in the same event loop) both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from django.conf import settings

# What a browser may send in one WebSocket message: the job pages send nothing but control frames.
WS_MAX_MESSAGE_BYTES = 64 * 1024
# Seconds a stopping server waits for requests in flight (WebSockets are closed with 1012: pages reconnect).
GRACEFUL_SHUTDOWN_SECONDS = 10
# Allocations from this size up get a mapping of their own, given back to the system when freed.
OWN_MAPPING_FROM_BYTES = 1024 * 1024
M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter


def give_large_buffers_back() -> bool:
    """Make freed image buffers leave the process (glibc): False where the C library has no mallopt().

    A decoded photo is a few 16 MB blocks (Pillow's). glibc serves the first ones with their own mapping,
    then raises its threshold and takes later ones from the decoding thread's arena, where they stay once
    freed: every request thread that ever decoded would keep its photo's worth (measured: 8 uploads of a
    40-megapixel PNG, 2 decodes at a time, +666 MB instead of +410 MB). A fixed threshold keeps them mapped.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, OWN_MAPPING_FROM_BYTES))


def web_server_config(application: Any, *, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    """uvicorn settings for the web role; `overrides` are uvicorn.Config arguments.

    Kept-alive connections stay open WEB_KEEP_ALIVE_SECONDS, not uvicorn's 5 s. A server that closes an idle
    connection races the client's next request on it: a load balancer or a phone that sends it just then
    (a busy client reads the last answer late, so its own shorter idle limit does not help) gets a reset
    or an empty answer, and a form with photos is lost. The one who closes must be the client.
    """
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "asyncio",
        "http": "h11",
        "ws": "websockets-sansio",  # the websockets library's sans-I/O protocol (uvicorn's older one is deprecated)
        "ws_max_size": WS_MAX_MESSAGE_BYTES,
        "ws_per_message_deflate": False,  # small JSON frames: a zlib context per socket costs more than it saves
        "lifespan": "off",  # Channels' router speaks no lifespan; nothing to start or stop
        "log_config": None,  # Django's LOGGING
        "access_log": False,
        "proxy_headers": False,  # the site reads X-Forwarded-For itself, only behind a proxy (core.clientip)
        "server_header": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "timeout_keep_alive": settings.WEB_KEEP_ALIVE_SECONDS,
    }
    options.update(overrides)
    return uvicorn.Config(application, **options)


async def serve_web(
    application: Any, *, host: str, port: int, beside: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Serve until SIGINT/SIGTERM; `beside`: a coroutine function run in the same event loop (the dispatcher),
    cancelled when the server stops."""
    give_large_buffers_back()
    server = uvicorn.Server(web_server_config(application, host=host, port=port))
    companion = asyncio.create_task(beside()) if beside is not None else None
    try:
        await server.serve()
    finally:
        if companion is not None:
            companion.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await companion
    if not server.started:
        raise SystemExit(f"the web server could not listen on {host}:{port}")


def run_web(application: Any, *, host: str, port: int, beside: Callable[[], Awaitable[None]] | None = None) -> None:
    """`serve_web` in a new event loop. uvicorn raises the signal it stopped on again once it has stopped:
    the process then ends as killed by SIGTERM (status 143), or quietly after Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_web(application, host=host, port=port, beside=beside))
