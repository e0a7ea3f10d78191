"""The admission layer: at most N HTTP requests inside the application, the others waiting in arrival order.

Driven at the ASGI level with an application that records who is inside and holds each request until the
test lets it go, so the counts are exact whatever the machine is doing.
"""

from __future__ import annotations

import asyncio

from comfyweb.asgi import application
from comfyweb.core.admission import AdmissionMiddleware


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


def http(path: str) -> dict:
    return {"type": "http", "path": path, "method": "POST", "headers": []}


async def call(gate: AdmissionMiddleware, path: str, sent: list) -> None:
    async def receive():
        return {"type": "http.request", "body": b"photo", "more_body": False}

    async def send(message):
        sent.append((path, message["type"]))

    await gate(http(path), receive, send)


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
    assert gate.places()._value == 1


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


def test_the_site_application_admits_as_many_as_the_setting_says(settings):
    settings.WEB_REQUESTS_AT_ONCE = 5
    gate = application.app
    assert isinstance(gate, AdmissionMiddleware)
    assert gate.places()._value == 5
