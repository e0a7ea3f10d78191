"""Requests run their synchronous part in threads kept between requests: no thread is started per request
(each start blocks the event loop until the new thread holds the GIL), yet one request's calls still run
in one thread and two requests at once never share one."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, JsonResponse
from django.urls import path

from comfyweb.core.requestthreads import KeptThreadsASGIHandler, RequestThread, RequestThreads

release = threading.Event()


def where(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"thread": threading.get_ident()})


def held(request: HttpRequest) -> JsonResponse:
    """Answers once the test releases it (or after 10 s), from the thread it ran in."""
    release.wait(10)
    return JsonResponse({"thread": threading.get_ident()})


urlpatterns = [path("where/", where), path("held/", held)]
pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def thread_starts(monkeypatch) -> list[str]:
    """The name of every thread started meanwhile."""
    started: list[str] = []
    start = threading.Thread.start

    def counted(self):
        started.append(self.name)
        return start(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    return started


def client_for(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=handler), base_url="http://localhost")


async def test_requests_one_after_another_start_no_thread_and_run_in_the_same_one(thread_starts):
    threads = RequestThreads()
    async with client_for(KeptThreadsASGIHandler(threads)) as client:
        seen = {(await client.get("/where/")).json()["thread"] for _ in range(20)}
    assert len(seen) == 1
    assert threads.made == 1 and threads.idle == 1
    assert [name for name in thread_starts if name.startswith("request")] == ["request_0"], thread_starts
    assert len(thread_starts) == 1, thread_starts


async def test_django_s_own_handler_starts_threads_for_every_request(thread_starts):
    """What the kept threads replace: the test above fails on Django's handler."""
    async with client_for(ASGIHandler()) as client:
        for _ in range(5):
            assert (await client.get("/where/")).status_code == 200
    assert len(thread_starts) >= 5, thread_starts


async def test_requests_at_once_never_share_a_thread():
    threads = RequestThreads()
    release.clear()
    async with client_for(KeptThreadsASGIHandler(threads)) as client:
        waiting = [asyncio.create_task(client.get("/held/")) for _ in range(3)]
        while threads.made < 3:  # each request has taken its own thread; none has answered yet
            await asyncio.sleep(0.01)
        assert not any(task.done() for task in waiting)
        release.set()
        answers = await asyncio.gather(*waiting)
    assert len({answer.json()["thread"] for answer in answers}) == 3
    assert threads.idle == 3


def test_a_thread_still_busy_is_not_given_to_the_next_request():
    """A request cancelled while its view runs on gives back a busy thread: it is let go, not kept."""
    threads = RequestThreads()
    thread = threads.take()
    gate = threading.Event()
    running = thread.submit(gate.wait, 10)
    threads.give_back(thread)
    assert threads.idle == 0
    assert threads.take() is not thread
    gate.set()
    assert running.result(timeout=10) is True
    thread.shutdown(wait=True)  # it was let go: its thread ends once the call returns


def test_no_more_idle_threads_are_kept_than_the_bound():
    threads = RequestThreads(most_kept=2)
    taken = [threads.take() for _ in range(4)]
    for thread in taken:
        threads.give_back(thread)
    assert threads.idle == 2
    assert isinstance(threads.take(), RequestThread)


@pytest.mark.urls("comfyweb.urls")
async def test_the_site_s_application_starts_no_thread_per_request(thread_starts):
    """What `manage.py web` and `serve` run (comfyweb.asgi): the body limit, the admission, then the kept threads."""
    from comfyweb.asgi import application

    async with client_for(application) as client:
        assert (await client.get("/healthz")).status_code == 200  # the first one may make its thread
        thread_starts.clear()
        for _ in range(5):
            assert (await client.get("/healthz")).status_code == 200
    assert thread_starts == []
