"""The browser relay at /ws/jobs/<id>/: the owner (or staff) sees the snapshot, then every update."""

from __future__ import annotations

import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore

from comfyweb.asgi import application
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay import consumers
from comfyweb.jobs.relay.publish import apublish_preview, apublish_snapshot, publish_job, publish_queue_changed
from comfyweb.jobs.services import cancel_job, create_jobs
from tests.prompts import CORE_WORKFLOW

pytestmark = pytest.mark.django_db(transaction=True)


def new_session() -> str:
    session = SessionStore()
    session["visitor"] = True
    session.create()
    return session.session_key


def queued_job(session_key: str) -> Job:
    defaults = {"title": "Core", "prompt": CORE_WORKFLOW}
    template = WorkflowTemplate.objects.get_or_create(slug="core", defaults=defaults)[0]
    return create_jobs(template=template, values={}, session_key=session_key)[0]


def communicator(job_id, session_key: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if session_key:
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    return WebsocketCommunicator(application, f"/ws/jobs/{job_id}/", headers=headers)


async def test_the_owner_gets_the_persisted_snapshot_then_live_updates():
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(queued_job)(session_key)
    socket = communicator(job.pk, session_key)
    connected, _ = await socket.connect()
    assert connected
    first = await socket.receive_json_from(timeout=5)
    assert first["type"] == "job"
    assert first["job"]["id"] == str(job.pk) and first["job"]["status"] == "queued"
    assert first["job"]["queue_position"] == 1

    job.status, job.percent = Job.Status.RUNNING, 42.0
    await job.asave(update_fields=["status", "percent"])
    await sync_to_async(publish_job)(job)
    update = await socket.receive_json_from(timeout=5)
    assert update["job"]["status"] == "running" and update["job"]["percent"] == 42.0
    await socket.disconnect()


async def test_another_visitor_is_refused():
    job = await sync_to_async(queued_job)(await sync_to_async(new_session)())
    socket = communicator(job.pk, await sync_to_async(new_session)())
    await socket.connect()
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}


async def test_a_visitor_without_a_session_is_refused():
    job = await sync_to_async(queued_job)(await sync_to_async(new_session)())
    socket = communicator(job.pk, None)
    await socket.connect()
    assert (await socket.receive_output(timeout=5))["code"] == 4403


async def test_an_unknown_job_is_not_found():
    socket = communicator(uuid.uuid4(), await sync_to_async(new_session)())
    await socket.connect()
    assert (await socket.receive_output(timeout=5))["code"] == 4404


async def test_staff_may_watch_any_job(client):
    job = await sync_to_async(queued_job)(await sync_to_async(new_session)())
    staff = await sync_to_async(get_user_model().objects.create_user)("op", password="pw", is_staff=True)
    await sync_to_async(client.force_login)(staff)
    socket = communicator(job.pk, client.cookies["sessionid"].value)
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from(timeout=5))["job"]["id"] == str(job.pk)
    await socket.disconnect()


async def test_a_foreign_origin_is_refused():
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(queued_job)(session_key)
    headers = [(b"origin", b"http://evil.example"), (b"cookie", f"sessionid={session_key}".encode())]
    socket = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/", headers=headers)
    connected, _ = await socket.connect()
    assert not connected


async def test_a_waiting_job_is_told_its_new_place_when_the_queue_moves():
    session_key = await sync_to_async(new_session)()
    ahead = await sync_to_async(queued_job)(session_key)
    job = await sync_to_async(queued_job)(session_key)
    socket = communicator(job.pk, session_key)
    await socket.connect()
    assert (await socket.receive_json_from(timeout=5))["job"]["queue_position"] == 2
    await sync_to_async(cancel_job)(job=ahead)  # announces that the queue changed; no polling
    moved = await socket.receive_json_from(timeout=5)
    assert moved["job"]["status"] == "queued" and moved["job"]["queue_position"] == 1
    assert await socket.receive_nothing(timeout=0.3), "nothing is sent while the place stays the same"

    job.status = Job.Status.RUNNING
    await job.asave(update_fields=["status"])
    await sync_to_async(publish_job)(job)
    assert (await socket.receive_json_from(timeout=5))["job"]["status"] == "running"
    await sync_to_async(publish_queue_changed)()
    assert await socket.receive_nothing(timeout=0.3), "a running job does not hear of the queue any more"
    await socket.disconnect()


async def test_a_burst_of_queue_changes_reaches_a_waiting_page_as_two_messages_the_last_one_newest(monkeypatch):
    """A spike moves the line several times a second: the page hears the first move at once and the rest
    folded into one message at the end of the interval, with the place after the last move."""
    monkeypatch.setattr(consumers, "PLACE_INTERVAL", 6.0)  # the four moves take far less, even on a busy machine
    session_key = await sync_to_async(new_session)()
    ahead = [await sync_to_async(queued_job)(session_key) for _ in range(4)]
    job = await sync_to_async(queued_job)(session_key)
    socket = communicator(job.pk, session_key)
    await socket.connect()
    assert (await socket.receive_json_from(timeout=5))["job"]["queue_position"] == 5
    for leaving in ahead:  # four moves, each announced
        await sync_to_async(cancel_job)(job=leaving)
    places = []
    while not await socket.receive_nothing(timeout=9):  # longer than the interval: nothing more is coming
        places.append((await socket.receive_json_from(timeout=1))["job"]["queue_position"])
    assert places and places[-1] == 1, places
    assert len(places) <= 2, f"at most two messages for four moves: {places}"
    await socket.disconnect()


async def test_a_move_in_the_queue_brings_the_places_of_all_the_visitors_waiting_jobs_from_one_reading():
    """Each card has its own socket: a page that took each card's place from it would, for a moment, show two
    cards at one place. Every place message carries the places of all of the visitor's waiting jobs."""
    session_key = await sync_to_async(new_session)()
    first, second, third = [await sync_to_async(queued_job)(session_key) for _ in range(3)]
    socket = communicator(third.pk, session_key)
    await socket.connect()
    shown = (await socket.receive_json_from(timeout=5))["job"]
    assert {key: entry["place"] for key, entry in shown["places"].items()} == {
        str(first.pk): 1,
        str(second.pk): 2,
        str(third.pk): 3,
    }
    await Job.objects.filter(pk=first.pk).aupdate(status=Job.Status.DISPATCHED)  # a worker claimed it
    await sync_to_async(publish_queue_changed)()
    moved = (await socket.receive_json_from(timeout=5))["job"]
    assert {key: entry["place"] for key, entry in moved["places"].items()} == {
        str(first.pk): None,  # it left the line: no longer at place 1, whatever its own card still says
        str(second.pk): 1,
        str(third.pk): 2,
    }
    assert moved["places_at"] > shown["places_at"]
    await socket.disconnect()


async def test_an_update_published_while_the_snapshot_is_read_reaches_the_page(monkeypatch):
    """The window between joining and reading: the page gets the snapshot, then the newer update."""
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(queued_job)(session_key)
    read = consumers.read_for_watchers

    async def read_after_an_update(asks):
        [(verdict, snapshot)] = await read(asks)  # the stored state: still queued
        newer = {**snapshot, "status": "running", "percent": 42.0, "at": time.time() + 1}
        await apublish_snapshot(asks[0][0], newer)  # the runner publishes before the snapshot is sent
        return [(verdict, snapshot)]

    monkeypatch.setattr(consumers, "read_for_watchers", read_after_an_update)
    socket = communicator(job.pk, session_key)
    await socket.connect()
    assert (await socket.receive_json_from(timeout=5))["job"]["status"] == "queued"
    update = await socket.receive_json_from(timeout=5)
    assert update["job"]["status"] == "running" and update["job"]["percent"] == 42.0
    await socket.disconnect()


async def test_an_update_older_than_the_shown_state_is_dropped():
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(queued_job)(session_key)
    await sync_to_async(cancel_job)(job=job)  # stored: cancelled, finished now
    socket = communicator(job.pk, session_key)
    await socket.connect()
    shown = (await socket.receive_json_from(timeout=5))["job"]
    assert shown["status"] == "cancelled"
    stale = {**shown, "status": "running", "percent": 80.0, "at": shown["at"] - 5}
    await apublish_snapshot(job.pk, stale)  # a runner's tick that lost the race with the final state
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_previews_reach_the_page_only_while_the_job_runs():
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(queued_job)(session_key)
    socket = communicator(job.pk, session_key)
    await socket.connect()
    await socket.receive_json_from(timeout=5)
    await apublish_preview(job.pk, "data:image/jpeg;base64,AAAA")
    assert await socket.receive_nothing(timeout=0.2), "a waiting job shows no preview"
    job.status = Job.Status.RUNNING
    await job.asave(update_fields=["status"])
    await sync_to_async(publish_job)(job)
    await socket.receive_json_from(timeout=5)
    await apublish_preview(job.pk, "data:image/jpeg;base64,AAAA")
    assert await socket.receive_json_from(timeout=5) == {"type": "preview", "image": "data:image/jpeg;base64,AAAA"}
    await socket.disconnect()
