"""The admission layer: at most N HTTP requests inside the application, the others waiting in arrival order.

Driven at the ASGI level with an application that records who is inside and holds each request until the
test lets it go, so the counts are exact whatever the machine is doing.
"""

from __future__ import annotations

import asyncio

import pytest

from comfyweb.asgi import application
from comfyweb.core.admission import AdmissionMiddleware, is_upload, requests_inside, requests_waiting


class HeldApp:
    """An ASGI app that answers each request only when the test releases it; it notes who came in and when."""

    def __init__(self, *, start_early: bool = False) -> None:
        self.inside: set[str] = set()
        self.most_inside = 0
        self.order: list[str] = []
        self.bodies_read: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.start_early = start_early

    def gate(self, name: str) -> asyncio.Event:
        return self.release.setdefault(name, asyncio.Event())

    async def __call__(self, scope, receive, send) -> None:
        name = scope["path"]
        self.order.append(name)
        self.inside.add(name)
        self.most_inside = max(self.most_inside, len(self.inside))
        await receive()
        self.bodies_read.append(name)
        if self.start_early:  # a streamed download: the headers first, then the body much later
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await self.gate(name).wait()
        if not self.start_early:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        self.inside.discard(name)
        await send({"type": "http.response.body", "body": name.encode()})


PHOTO = [(b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", b"3145728")]


def http(path: str, headers: list | None = None) -> dict:
    return {"type": "http", "path": path, "method": "POST", "headers": headers or []}


async def call(gate: AdmissionMiddleware, path: str, sent: list) -> None:
    """A request to `path`; one whose path starts with /upload announces a 3 MB body."""

    async def receive():
        return {"type": "http.request", "body": b"photo", "more_body": False}

    async def send(message):
        sent.append((path, message["type"]))

    await gate(http(path, PHOTO if path.startswith("/upload") else None), receive, send)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def one_after_another(gate: AdmissionMiddleware, *paths: str) -> list[asyncio.Task]:
    """Requests to `paths` arriving in this order, each let settle before the next comes."""
    tasks = []
    for path in paths:
        tasks.append(asyncio.create_task(call(gate, path, [])))
        await settle()
    return tasks


async def test_at_most_the_limit_is_inside_and_the_rest_come_in_arrival_order():
    app = HeldApp()
    gate = AdmissionMiddleware(app, limit=3)
    sent: list = []
    paths = [f"/r{n}" for n in range(12)]
    tasks = []
    for path in paths:
        tasks.append(asyncio.create_task(call(gate, path, sent)))
        await settle()
    assert app.order == paths[:3]
    assert app.bodies_read == paths[:3], "a waiting request's body is not read"
    assert (gate.inside, gate.waiting) == (3, 9)
    for path in paths:
        app.gate(path).set()
        await settle()
    await asyncio.gather(*tasks)
    assert app.order == paths, "first come, first served"
    assert app.most_inside == 3
    assert [path for path, kind in sent if kind == "http.response.body"] == paths
    assert (gate.inside, gate.waiting) == (0, 0)


async def test_a_request_leaves_its_place_when_its_response_starts():
    app = HeldApp(start_early=True)
    gate = AdmissionMiddleware(app, limit=1)
    download, page = await one_after_another(gate, "/download", "/page")
    assert app.order == ["/download", "/page"], "the download started its response: the page came in"
    app.gate("/page").set()
    app.gate("/download").set()
    await asyncio.gather(download, page)
    assert gate.inside == 0


async def test_a_failing_request_gives_its_place_back():
    async def failing(scope, receive, send):
        raise RuntimeError("boom")

    gate = AdmissionMiddleware(failing, limit=1)
    for _ in range(3):
        try:
            await gate(http("/x"), None, None)
        except RuntimeError:
            pass
    assert (gate.inside, gate.waiting) == (0, 0)
    assert gate.requests.places()._value == 1


async def test_probes_websockets_and_a_zero_limit_never_wait():
    app = HeldApp()
    gate = AdmissionMiddleware(app, limit=1)
    busy, probe = await one_after_another(gate, "/busy", "/healthz")
    assert app.order == ["/busy", "/healthz"]

    seen = []

    async def socket_app(scope, receive, send):
        seen.append(scope["type"])

    await AdmissionMiddleware(socket_app, limit=1)({"type": "websocket", "path": "/ws/jobs/x/"}, None, None)
    assert seen == ["websocket"]

    unlimited = HeldApp()
    open_gate = AdmissionMiddleware(unlimited, limit=0)
    tasks = [asyncio.create_task(call(open_gate, f"/u{n}", [])) for n in range(5)]
    await settle()
    assert unlimited.most_inside == 5
    for n in range(5):
        unlimited.gate(f"/u{n}").set()
    app.gate("/busy").set()
    app.gate("/healthz").set()
    await asyncio.gather(busy, probe, *tasks)


async def test_uploads_take_at_most_their_share_and_pages_pass_the_uploads_waiting():
    app = HeldApp()
    gate = AdmissionMiddleware(app, limit=4, upload_limit=2)
    uploads = [f"/upload{n}" for n in range(6)]
    tasks = await one_after_another(gate, *uploads, "/page1", "/page2", "/page3")
    assert app.order == ["/upload0", "/upload1", "/page1", "/page2"], "two uploads inside, the pages passed the rest"
    assert (gate.inside, gate.waiting) == (4, 5)
    assert (requests_inside(), requests_waiting()) == (4, 5), "what /metrics reports"
    app.gate("/page1").set()
    await settle()
    assert app.order[-1] == "/page3", "a freed place goes to the page, not to an upload over its share"
    for path in [*uploads, "/page2", "/page3"]:
        app.gate(path).set()
        await settle()
    await asyncio.gather(*tasks)
    assert [path for path in app.order if path.startswith("/upload")] == uploads, "uploads keep their order"
    assert app.most_inside == 4
    assert (gate.inside, gate.waiting) == (0, 0)
    assert (gate.requests.places()._value, gate.uploads.places()._value) == (4, 2), "every place was given back"


async def test_an_upload_cancelled_while_it_waits_gives_back_what_it_took():
    app = HeldApp()
    gate = AdmissionMiddleware(app, limit=1, upload_limit=2)
    page, upload = await one_after_another(gate, "/page", "/upload")
    assert (gate.inside, gate.waiting) == (1, 1)
    upload.cancel()  # the phone gave up: it held an upload place and waited for a common one
    await settle()
    assert (gate.inside, gate.waiting) == (1, 0), "the page is still inside"
    assert gate.uploads.places()._value == 2
    app.gate("/page").set()
    await page
    assert gate.requests.places()._value == 1


@pytest.mark.parametrize(
    ("headers", "upload"),
    [
        ([], False),
        ([(b"content-length", b"2000")], False),  # a form's fields
        ([(b"content-length", b"65537")], True),
        ([(b"transfer-encoding", b"chunked")], True),  # of unknown length
        ([(b"content-length", b"nonsense")], True),  # the body limit answers it; never a light request
    ],
)
def test_an_upload_is_a_body_larger_than_a_forms_fields(headers, upload):
    assert is_upload(http("/x", headers)) is upload


def test_the_site_application_admits_as_many_as_the_settings_say(settings):
    settings.WEB_REQUESTS_AT_ONCE, settings.WEB_UPLOADS_AT_ONCE = 5, 3
    gate = application.app
    assert isinstance(gate, AdmissionMiddleware)
    assert (gate.requests.places()._value, gate.uploads.places()._value) == (5, 3)


def test_metrics_show_the_requests_inside_and_waiting(admin_client):
    text = admin_client.get("/metrics").content.decode()
    assert "comfyweb_http_requests_inside " in text
    assert "comfyweb_http_requests_waiting 0.0" in text
