"""The outermost ASGI layer refuses a request body over REQUEST_MAX_BYTES before the application reads it.

Driven through the ASGI interface of the site's own `comfyweb.asgi.application`; the bound on a real
server's memory is shown by tests/core/test_request_memory.py.
"""

from __future__ import annotations

import json

import pytest

from comfyweb.asgi import application
from comfyweb.core.bodylimit import BodyLimitMiddleware

LIMIT = 1000


def http_scope(path: str = "/healthz", headers: list[tuple[bytes, bytes]] = (), method: str = "POST") -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
    }  # fmt: skip


class Client:
    """Feeds body chunks as the server would and records what the application (and the layer) send back."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.read = 0  # chunks handed to the layer
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if not self.chunks:
            return {"type": "http.disconnect"}
        self.read += 1
        chunk = self.chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(next(m["headers"] for m in self.sent if m["type"] == "http.response.start"))

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def echo_length(scope, receive, send) -> None:
    """An application that reads the whole body, then answers with its length."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # like Django: a client that left gets no answer
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read():
    client = Client([b"x" * 600, b"x" * 600])
    scope = http_scope(headers=[(b"content-length", b"1200")])
    await BodyLimitMiddleware(echo_length, LIMIT)(scope, client.receive, client.send)
    assert client.status == 413 and client.read == 0
    assert client.headers[b"connection"] == b"close"
    assert "at most" in client.body.decode() and "最多" in client.body.decode()


async def test_a_chunked_body_is_refused_once_its_running_count_passes_the_limit():
    client = Client([b"x" * 400] * 10)  # no Content-Length: Transfer-Encoding chunked
    await BodyLimitMiddleware(echo_length, LIMIT)(http_scope(), client.receive, client.send)
    assert client.status == 413
    assert client.read == 3, "the count stops reading at the chunk that passes the limit"
    assert len([m for m in client.sent if m["type"] == "http.response.start"]) == 1, "the application answered nothing"


async def test_a_body_within_the_limit_reaches_the_application_whole():
    client = Client([b"x" * 500, b"x" * 500])
    await BodyLimitMiddleware(echo_length, LIMIT)(http_scope(), client.receive, client.send)
    assert client.status == 200 and client.body == b"1000"


@pytest.mark.parametrize("value", [b"12x", b"-5", b""])
async def test_a_content_length_that_is_not_a_number_is_a_bad_request(value):
    client = Client([b"x"])
    await BodyLimitMiddleware(echo_length, LIMIT)(http_scope(headers=[(b"content-length", value)]), client.receive,
                                                  client.send)  # fmt: skip
    assert client.status == 400 and client.read == 0


async def test_conflicting_content_lengths_are_a_bad_request():
    client = Client([b"x" * 10])
    headers = [(b"content-length", b"10"), (b"Content-Length", b"5000")]
    await BodyLimitMiddleware(echo_length, LIMIT)(http_scope(headers=headers), client.receive, client.send)
    assert client.status == 400 and client.read == 0


async def test_the_api_is_answered_in_json():
    client = Client([b"{}"])
    scope = http_scope("/api/v1/jobs/", headers=[(b"content-length", b"5000")])
    await BodyLimitMiddleware(echo_length, LIMIT)(scope, client.receive, client.send)
    assert client.status == 413 and client.headers[b"content-type"] == b"application/json"
    assert json.loads(client.body)["code"] == "too_large"


async def test_the_sites_application_refuses_with_the_setting(settings):
    """The layer is the outermost one of comfyweb.asgi and reads REQUEST_MAX_BYTES at each request."""
    settings.REQUEST_MAX_BYTES = LIMIT
    client = Client([b"x" * 2000])
    scope = http_scope("/t/anything/", headers=[(b"content-length", b"2000")])
    await application(scope, client.receive, client.send)
    assert client.status == 413 and client.read == 0
