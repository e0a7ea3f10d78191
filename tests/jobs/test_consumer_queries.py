"""A job socket's connect costs one database read: the job, its owner and the session together.

A launch or a web restart brings thousands of job pages at once; a connect that made several queries
(the session, the account, the job's owner check, the snapshot) put each of them in line several times.
Counted through the real ASGI application, in the threads the consumer's database reads run in.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comfyweb.jobs.fair_queue import QUEUE_ORDER
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.consumers import READ_THREAD_COUNT, READ_THREADS
from comfyweb.jobs.relay.publish import apublish_snapshot
from comfyweb.jobs.selectors import job_snapshot
from tests.jobs.test_consumer import communicator, new_session, queued_job

pytestmark = pytest.mark.django_db(transaction=True)


class ConsumerQueries:
    """The queries made in the threads where the consumer reads the database (`consumers.READ_THREADS`),
    between entering and leaving: a capture is open in each of those threads meanwhile."""

    async def __aenter__(self) -> ConsumerQueries:
        self.contexts: dict[int, CaptureQueriesContext] = {}
        await self._in_every_read_thread(self._enter)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._in_every_read_thread(lambda: self.contexts[threading.get_ident()].__exit__(None, None, None))

    @property
    def captured_queries(self) -> list[dict]:
        return [query for context in self.contexts.values() for query in context.captured_queries]

    def _enter(self) -> None:
        context = CaptureQueriesContext(connections["default"])
        context.__enter__()
        self.contexts[threading.get_ident()] = context

    @staticmethod
    async def _in_every_read_thread(work) -> None:
        """`work` once in each thread of the pool: every call waits until all have started, so none shares one."""
        everyone = threading.Barrier(READ_THREAD_COUNT)

        def step() -> None:
            everyone.wait(timeout=30)
            work()

        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(READ_THREADS, step) for _ in range(READ_THREAD_COUNT)))


async def connect_and_count(job_id, session_key: str | None) -> tuple[dict, int]:
    """The first frame (the snapshot, or the close) and the queries the connect made until then."""
    socket = communicator(job_id, session_key)
    async with ConsumerQueries() as queries:
        await socket.connect()
        first = await socket.receive_output(timeout=5)
    await socket.disconnect()
    return first, len(queries.captured_queries)


def running(job: Job) -> Job:
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, progress={"": {"status": "running"}})
    return job


async def test_a_running_jobs_owner_connects_with_one_query():
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(running)(await sync_to_async(queued_job)(session_key))
    first, queries = await connect_and_count(job.pk, session_key)
    assert first["type"] == "websocket.send" and '"status": "running"' in first["text"]
    assert queries == 1


async def test_a_waiting_jobs_owner_connects_with_one_query_once_the_queue_was_read():
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(queued_job)(session_key)
    await sync_to_async(QUEUE_ORDER.get)()  # the process's shared reading of the queue, as after the first page
    first, queries = await connect_and_count(job.pk, session_key)
    assert '"queue_position": 1' in first["text"]
    assert queries == 1


async def test_a_logged_in_owner_connects_with_one_query(client):
    owner = await sync_to_async(get_user_model().objects.create_user)("visitor", password="pw")
    await sync_to_async(client.force_login)(owner)
    session_key = client.cookies["sessionid"].value
    job = await sync_to_async(queued_job)(session_key)
    await Job.objects.filter(pk=job.pk).aupdate(owner=owner, status=Job.Status.RUNNING)
    first, queries = await connect_and_count(job.pk, session_key)
    assert '"status": "running"' in first["text"]
    assert queries == 1


async def test_a_refused_visitor_costs_one_query():
    job = await sync_to_async(queued_job)(await sync_to_async(new_session)())
    socket = communicator(job.pk, await sync_to_async(new_session)())
    async with ConsumerQueries() as queries:
        await socket.connect()
        closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}
    assert len(queries.captured_queries) == 1


async def test_an_expired_session_is_refused():
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(queued_job)(session_key)
    await Session.objects.filter(session_key=session_key).aupdate(expire_date=timezone.now())
    socket = communicator(job.pk, session_key)
    await socket.connect()
    assert (await socket.receive_output(timeout=5))["code"] == 4403


async def test_sockets_connecting_together_are_read_together_each_with_its_own_verdict(client):
    """A reconnect storm: 30 sockets at once cost a few queries, not 30, and no socket gets another's answer."""
    sessions = [await sync_to_async(new_session)() for _ in range(3)]
    jobs = [await sync_to_async(running)(await sync_to_async(queued_job)(key)) for key in sessions]
    expired = await sync_to_async(new_session)()
    await Session.objects.filter(session_key=expired).aupdate(expire_date=timezone.now())
    owner = await sync_to_async(get_user_model().objects.create_user)("storm", password="pw")
    await sync_to_async(client.force_login)(owner)
    owned = await sync_to_async(queued_job)(client.cookies["sessionid"].value)
    await Job.objects.filter(pk=owned.pk).aupdate(owner=owner, status=Job.Status.RUNNING)
    asks = []  # (job, session key, what the socket must get)
    for n in range(24):  # each session asks for its own job, and for the next session's
        mine, theirs = n % 3, (n + 1) % 3
        asks.append((jobs[mine].pk, sessions[mine], "running") if n % 2 else (jobs[theirs].pk, sessions[mine], 4403))
    asks += [(jobs[0].pk, expired, 4403), (jobs[1].pk, None, 4403), (uuid.uuid4(), sessions[0], 4404)]
    asks += [(owned.pk, client.cookies["sessionid"].value, "running"), (owned.pk, sessions[0], 4403)] * 2
    sockets = [communicator(job_id, key) for job_id, key, _ in asks]
    async with ConsumerQueries() as queries:
        await asyncio.gather(*(socket.connect() for socket in sockets))
        firsts = await asyncio.gather(*(socket.receive_output(timeout=10) for socket in sockets))
    for (job_id, _, wanted), first in zip(asks, firsts, strict=True):
        if wanted == "running":
            assert first["type"] == "websocket.send" and json.loads(first["text"])["job"]["id"] == str(job_id)
        else:
            assert first == {"type": "websocket.close", "code": wanted}, (job_id, first)
    assert len(queries.captured_queries) <= 8, "read in a few batches of two queries, not one query a socket"
    await asyncio.gather(*(socket.disconnect() for socket in sockets))


async def test_live_updates_reach_the_page_without_a_trip_to_the_database_thread(monkeypatch):
    """Channels closes old connections before every message, a hop to its database thread each; the job
    socket's updates skip it (at thousands of updates a second it was the web's largest cost)."""
    hops = []

    async def counted() -> None:
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counted)
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(running)(await sync_to_async(queued_job)(session_key))
    socket = communicator(job.pk, session_key)
    await socket.connect()
    await socket.receive_json_from(timeout=5)
    hops.clear()
    snapshot = await sync_to_async(lambda: job_snapshot(Job.objects.get(pk=job.pk)))()
    for step in range(1, 6):
        await apublish_snapshot(job.pk, {**snapshot, "percent": step * 10.0, "at": time.time()})
    shown = [(await socket.receive_json_from(timeout=5))["job"]["percent"] for _ in range(5)]
    await socket.disconnect()
    assert shown == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert hops == []
