"""A job socket's connect costs one database read: the job, its owner and the session together.

A launch or a web restart brings thousands of job pages at once; a connect that made several queries
(the session, the account, the job's owner check, the snapshot) put each of them in line several times.
Counted through the real ASGI application, in the thread the consumer's database work runs in.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from comfyweb.jobs.fair_queue import QUEUE_ORDER
from comfyweb.jobs.models import Job
from tests.jobs.test_consumer import communicator, new_session, queued_job

pytestmark = pytest.mark.django_db(transaction=True)


class ConsumerQueries:
    """The queries made in the thread where channels runs the consumer's database work (asgiref's one
    sync thread), between entering and leaving."""

    async def __aenter__(self) -> CaptureQueriesContext:
        self.context = await sync_to_async(self._enter)()
        return self.context

    def _enter(self) -> CaptureQueriesContext:
        context = CaptureQueriesContext(connections["default"])
        context.__enter__()
        return context

    async def __aexit__(self, *exc) -> None:
        await sync_to_async(self.context.__exit__)(None, None, None)


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
