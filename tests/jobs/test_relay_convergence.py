"""Job updates converge: numbered updates, and a re-read of the stored job whenever one may have been missed.

A change stored in the database but never published (a publish lost in a Redis blink) reaches the
page when a publisher's heartbeat says an update was delivered that this socket never heard, when the
page asks for a snapshot (it saw a gap in the numbers), and when the process's channel layer
subscription comes back. The real Redis round trip: tests/jobs/test_layer_reconnect.py; killed Redis
with real workers: tests/faults/test_redis_restart.py.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import OperationalError

from comfyweb.jobs import worker as worker_module
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay import publish
from comfyweb.jobs.relay.delivery import STREAM
from comfyweb.jobs.relay.publish import apublish_heartbeat, apublish_heartbeats, apublish_snapshot, job_group
from comfyweb.jobs.relay.resync import WATCHERS
from comfyweb.jobs.selectors import job_snapshot
from comfyweb.jobs.worker import HEARTBEATS_AFTER_END, JobWorker
from tests.jobs.test_consumer import communicator, new_session, queued_job

pytestmark = pytest.mark.django_db(transaction=True)


async def watched_job():
    """A queued job and its owner's socket, past the first snapshot."""
    session_key = await sync_to_async(new_session)()
    job = await sync_to_async(queued_job)(session_key)
    socket = communicator(job.pk, session_key)
    connected, _ = await socket.connect()
    assert connected
    first = await socket.receive_json_from(timeout=5)
    assert first["job"]["status"] == "queued" and "seq" not in first, "a stored snapshot carries no number"
    return job, socket


async def store_silently(job: Job, **changes) -> None:
    """Change the job in the database without publishing it (as if the publish was lost)."""
    await Job.objects.filter(pk=job.pk).aupdate(**changes)


async def running_on_the_page():
    """A watched job stored and shown running: the page heard one numbered update."""
    job, socket = await watched_job()
    await store_silently(job, status=Job.Status.RUNNING, percent=40.0)
    await apublish_snapshot(job.pk, await snapshot_of(job))
    assert (await socket.receive_json_from(timeout=5))["job"]["status"] == "running"
    return job, socket


async def snapshot_of(job: Job) -> dict:
    return await sync_to_async(job_snapshot)(await Job.objects.select_related("template").aget(pk=job.pk))


async def test_updates_reach_the_page_numbered_by_their_publisher():
    job, socket = await watched_job()
    for percent in (10.0, 20.0):
        await store_silently(job, status=Job.Status.RUNNING, percent=percent)
        await apublish_snapshot(job.pk, await snapshot_of(job))
    first, second = await socket.receive_json_from(timeout=5), await socket.receive_json_from(timeout=5)
    assert (first["stream"], second["stream"]) == (STREAM, STREAM)
    assert second["seq"] == first["seq"] + 1
    assert second["job"]["percent"] == 20.0
    await socket.disconnect()


async def test_a_heartbeat_of_an_update_never_heard_makes_the_socket_re_read_the_job():
    job, socket = await watched_job()
    await store_silently(job, status=Job.Status.RUNNING, percent=35.0)
    await get_channel_layer().group_send(job_group(job.pk), {"type": "job.heartbeat", "stream": "w1", "seq": 7})
    reread = await socket.receive_json_from(timeout=5)
    assert reread["job"]["status"] == "running" and reread["job"]["percent"] == 35.0 and "seq" not in reread
    # The same heartbeat again: nothing was missed since, nothing is read or sent.
    await get_channel_layer().group_send(job_group(job.pk), {"type": "job.heartbeat", "stream": "w1", "seq": 7})
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_final_state_the_page_never_heard_reaches_it_on_a_heartbeat_after_the_jobs_end(monkeypatch):
    """The worker's publish of the final state was delivered to the layer and lost on the way (or reached
    the group a moment before this socket joined it): no running job's heartbeat would ever reveal it, so
    the worker goes on beating the ended job for a few rounds, and the page re-reads it."""
    job, socket = await running_on_the_page()

    async def run_to_the_end(job, **kwargs):  # the runner: the final state stored, its publish lost
        await store_silently(job, status=Job.Status.SUCCEEDED, percent=100.0)
        publish.count_as_lost(job.pk)  # numbered and delivered, never heard

    monkeypatch.setattr(worker_module, "run_job", run_to_the_end)
    worker = JobWorker("w", sync_backends=False)
    worker.tasks[job.pk] = asyncio.create_task(worker._run(job))
    await worker.tasks[job.pk]
    assert job.pk not in worker.tasks
    await apublish_heartbeats(worker.heartbeat_jobs())  # the worker's next relay heartbeat round
    reread = await socket.receive_json_from(timeout=5)
    assert reread["job"]["status"] == "succeeded" and reread["job"]["percent"] == 100.0
    await socket.disconnect()


async def test_a_state_that_could_not_be_read_to_publish_reaches_the_page_on_the_next_heartbeat(monkeypatch):
    """The final state is stored, then the database goes away before the worker reads it back to publish it:
    nothing is sent, but the update counts as lost, so the job's next heartbeat makes the page re-read it."""
    job, socket = await running_on_the_page()
    await store_silently(job, status=Job.Status.SUCCEEDED, percent=100.0)

    def database_away(job, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(publish, "job_snapshot", database_away)
    await publish.publish_quietly(job)
    assert await socket.receive_nothing(timeout=0.3)
    monkeypatch.undo()
    await apublish_heartbeat(job.pk)
    assert (await socket.receive_json_from(timeout=5))["job"]["status"] == "succeeded"
    await socket.disconnect()


async def test_an_ended_job_is_beaten_for_a_few_rounds_then_no_more(monkeypatch):
    async def ends(job, **kwargs):
        return job

    monkeypatch.setattr(worker_module, "run_job", ends)
    worker = JobWorker("w", sync_backends=False)
    running, ended = "running-job", "ended-job"
    worker.tasks[running] = asyncio.get_running_loop().create_future()
    await worker._run(Job(pk=ended))
    rounds = [worker.heartbeat_jobs() for _ in range(HEARTBEATS_AFTER_END + 2)]
    assert rounds == [[running, ended]] * HEARTBEATS_AFTER_END + [[running]] * 2
    worker.tasks[running].cancel()


async def test_a_heartbeat_of_what_was_heard_changes_nothing():
    job, socket = await watched_job()
    await store_silently(job, status=Job.Status.RUNNING, percent=10.0)
    await apublish_snapshot(job.pk, await snapshot_of(job))
    heard = await socket.receive_json_from(timeout=5)
    await store_silently(job, percent=50.0)  # stored, but the heartbeat says nothing was sent since
    await apublish_heartbeat(job.pk)
    assert await socket.receive_nothing(timeout=0.3)
    assert heard["job"]["percent"] == 10.0
    await socket.disconnect()


async def test_a_page_that_saw_a_gap_gets_the_stored_state_at_most_every_two_seconds():
    job, socket = await watched_job()
    await store_silently(job, status=Job.Status.RUNNING, percent=60.0)
    await socket.send_json_to({"type": "snapshot"})
    answer = await socket.receive_json_from(timeout=5)
    assert answer["job"]["percent"] == 60.0
    await socket.send_json_to({"type": "snapshot"})
    assert await socket.receive_nothing(timeout=0.3), "a second request right after is not answered"
    await socket.send_json_to({"type": "anything else"})
    assert await socket.receive_nothing(timeout=0.1)
    await socket.disconnect()


async def test_what_a_page_sends_besides_is_ignored_and_the_socket_stays():
    job, socket = await watched_job()
    for junk in ("not json", "[1, 2]", '"snapshot"'):
        await socket.send_to(text_data=junk)
    await socket.send_to(bytes_data=b"\x00\xff")
    assert await socket.receive_nothing(timeout=0.3)
    await store_silently(job, status=Job.Status.RUNNING, percent=15.0)
    await apublish_snapshot(job.pk, await snapshot_of(job))
    assert (await socket.receive_json_from(timeout=5))["job"]["percent"] == 15.0, "still open and following"
    await socket.disconnect()


async def test_when_the_layer_subscription_is_back_every_open_socket_re_reads_its_job():
    (first, first_socket), (second, second_socket) = await watched_job(), await watched_job()
    assert len(WATCHERS) >= 2
    await store_silently(first, status=Job.Status.SUCCEEDED, percent=100.0)
    await store_silently(second, status=Job.Status.RUNNING, percent=40.0)
    WATCHERS.layer_reconnected()
    assert (await first_socket.receive_json_from(timeout=5))["job"]["status"] == "succeeded"
    assert (await second_socket.receive_json_from(timeout=5))["job"]["percent"] == 40.0
    await first_socket.disconnect()
    await second_socket.disconnect()


async def test_a_re_read_never_takes_the_page_back():
    """A stored state older than the live one shown (progress is written in batches) is not sent over it."""
    job, socket = await watched_job()
    await store_silently(job, status=Job.Status.RUNNING, percent=20.0)
    live = await snapshot_of(job)
    live["percent"], live["at"] = 70.0, live["at"] + 60
    await apublish_snapshot(job.pk, live)
    assert (await socket.receive_json_from(timeout=5))["job"]["percent"] == 70.0
    await socket.send_json_to({"type": "snapshot"})
    assert (await socket.receive_json_from(timeout=5))["job"]["percent"] == 70.0
    await socket.disconnect()
