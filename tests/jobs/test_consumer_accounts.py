"""A job socket decides who its visitor is from the session cookie alone (core/visitors.session_visitor),
so it must refuse every account django.contrib.auth would refuse on a page: a session made before the
password changed, a deactivated account, a session whose stored data was tampered with, a staff session
gone stale. Through the real ASGI application, against jobs owned by the account.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session

from comfyweb.jobs.models import Job
from tests.jobs.test_consumer import communicator, queued_job

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in(client, username: str, **fields):
    user = get_user_model().objects.create_user(username, password="first password", **fields)
    client.force_login(user)
    return user, client.cookies["sessionid"].value


def owned_job(user, session_key: str) -> Job:
    job = queued_job(session_key)
    Job.objects.filter(pk=job.pk).update(owner=user, status=Job.Status.RUNNING)
    return job


async def first_frame(job_id, session_key: str) -> dict:
    socket = communicator(job_id, session_key)
    await socket.connect()
    frame = await socket.receive_output(timeout=5)
    await socket.disconnect()
    return frame


async def test_the_owner_watches_until_the_password_changes(client):
    user, session_key = await sync_to_async(logged_in)(client, "owner")
    job = await sync_to_async(owned_job)(user, session_key)
    assert (await first_frame(job.pk, session_key))["type"] == "websocket.send"

    def change_password() -> None:
        user.set_password("second password")
        user.save()

    await sync_to_async(change_password)()
    assert await first_frame(job.pk, session_key) == {"type": "websocket.close", "code": 4403}


async def test_a_deactivated_account_is_refused(client):
    user, session_key = await sync_to_async(logged_in)(client, "leaver")
    job = await sync_to_async(owned_job)(user, session_key)
    await get_user_model().objects.filter(pk=user.pk).aupdate(is_active=False)
    assert await first_frame(job.pk, session_key) == {"type": "websocket.close", "code": 4403}


async def test_tampered_session_data_names_nobody(client):
    user, session_key = await sync_to_async(logged_in)(client, "target")
    job = await sync_to_async(owned_job)(user, session_key)
    stored = await Session.objects.aget(session_key=session_key)
    forged = stored.session_data[:-4] + ("AAAA" if not stored.session_data.endswith("AAAA") else "BBBB")
    await Session.objects.filter(session_key=session_key).aupdate(session_data=forged)
    assert await first_frame(job.pk, session_key) == {"type": "websocket.close", "code": 4403}


async def test_a_staff_session_sees_any_job_but_not_after_logout(client):
    _staff, staff_key = await sync_to_async(logged_in)(client, "operator", is_staff=True)
    visitor, visitor_key = await sync_to_async(logged_in)(client.__class__(), "visitor")
    job = await sync_to_async(owned_job)(visitor, visitor_key)
    assert (await first_frame(job.pk, staff_key))["type"] == "websocket.send"
    await Session.objects.filter(session_key=staff_key).adelete()
    assert await first_frame(job.pk, staff_key) == {"type": "websocket.close", "code": 4403}
