"""The web server keeps an idle connection open longer than what stands in front of it, so it never closes
one just as the next request arrives on it (that request would be lost with a reset)."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn

from comfyweb.core.webserver import web_server_config
from comfyweb.emulator.ports import free_port

UVICORN_DEFAULT_KEEP_ALIVE = 5.0


async def hello(scope, receive, send) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One GET on an open connection; the status line of the answer (b"" when the server had closed it)."""
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if head:
        await reader.readexactly(2)
    return head.split(b"\r\n", 1)[0]


def test_the_shipped_keep_alive_outlasts_a_load_balancer_s_idle_timeout(settings):
    config = web_server_config(hello, host="127.0.0.1", port=8000)
    assert config.timeout_keep_alive == settings.WEB_KEEP_ALIVE_SECONDS > 60  # a cloud load balancer's idle timeout


@pytest.mark.slow
async def test_a_connection_idle_past_uvicorn_s_default_still_serves_the_next_request():
    port = free_port("127.0.0.1")
    server = uvicorn.Server(web_server_config(hello, host="127.0.0.1", port=port))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await exchange(reader, writer) == b"HTTP/1.1 200 OK"
        await asyncio.sleep(UVICORN_DEFAULT_KEEP_ALIVE + 1.5)
        assert not reader.at_eof()  # uvicorn's own default would have closed it by now
        assert await exchange(reader, writer) == b"HTTP/1.1 200 OK"
        writer.close()
    finally:
        server.should_exit = True
        await serving
