"""The browser's live view of one job: the stored snapshot first, then every newer update.

The consumer joins the job's group before it reads the job, so an update published in between is never
lost; one query reads the job, its owner and the socket's session (who may watch) and gives the snapshot,
and sockets connecting together are read together (`ConnectReads`: two queries for a whole batch).
Updates are stamped with when their state was current (`at`), and one older than what the page already
shows is dropped. While the job waits, the consumer also listens to the
queue's group and pushes the job's new place when the queue's order changes (at most once a second:
`pacing.Pacer`).

Job updates converge: each update is numbered by its publisher (`stream`, `seq`) and passed on to the
page with its number. The consumer re-reads the job from the database (`resync`) when this process's
channel layer subscription came back (`resync.WATCHERS`), when a publisher's heartbeat says it delivered
an update this consumer never heard, and when the page, seeing a gap in the numbers, asks for a snapshot.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from comfyweb.core.visitors import SessionVisitor
from comfyweb.jobs.fair_queue import QUEUE_ORDER
from comfyweb.jobs.metrics import WEBSOCKET_WATCHERS
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.pacing import Pacer
from comfyweb.jobs.relay.publish import QUEUE_GROUP, job_group
from comfyweb.jobs.relay.resync import WATCHERS
from comfyweb.jobs.selectors import can_view, job_snapshot, jobs_for_watchers, places_of, queue_order

REFUSED = 4403
NOT_FOUND = 4404
WAITING = (Job.Status.QUEUED, Job.Status.DISPATCHED)
SNAPSHOT_INTERVAL = 2.0  # seconds: a page's snapshot requests answered at most this often
PLACE_INTERVAL = 1.0  # seconds: a waiting page is told its place at most this often (it counts the wait down)

# The consumers' reads run in threads of their own, several at once, not one after another in the single thread
# Channels' database_sync_to_async uses by default: a reconnect storm (every page of a launch at once after a
# web restart) is a wall of these reads, each mostly waiting for the database. Each thread borrows a pooled
# connection per read and gives it back after; keep the threads below DATABASE_POOL_SIZE.
READ_THREAD_COUNT = 4
READ_THREADS = ThreadPoolExecutor(max_workers=READ_THREAD_COUNT, thread_name_prefix="watcher-reads")


def watcher_read(function: Callable[..., Any]) -> DatabaseSyncToAsync:
    """`function` run by Channels' database wrapper (old connections closed around it) in READ_THREADS."""
    return DatabaseSyncToAsync(function, thread_sensitive=False, executor=READ_THREADS)


def verdict_for(job: Job | None, visitor: SessionVisitor) -> tuple[str, dict | None]:
    """(verdict, snapshot): "found" with the job's snapshot, "not_found" or "refused"."""
    if job is None:
        return "not_found", None
    if not can_view(job, user=visitor.user, session_key=visitor.session_key):
        return "refused", None
    return "found", job_snapshot(job)


@watcher_read
def read_for_watchers(asks: list[tuple]) -> list[tuple[str, dict | None]]:
    """The verdict of each (job id, session key), in order: one query for one socket, two for many
    (selectors.jobs_for_watchers)."""
    return [verdict_for(job, visitor) for job, visitor in jobs_for_watchers(asks)]


class ConnectReads:
    """Sockets that connect together are read together: in a reconnect storm (every page of a launch at once,
    after a web restart) a few queries serve a whole batch instead of one query, one borrowed connection and
    one pool check each.

    At most IN_FLIGHT batches are read at once; the sockets arriving meanwhile wait for the next batch (at most
    BATCH of them). A single socket on a quiet site is read at once, as before.
    """

    BATCH = 200
    IN_FLIGHT = 2

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pending: list[tuple[object, str, asyncio.Future]] = []
        self.readers: set[asyncio.Task] = set()

    async def read(self, job_id, session_key: str) -> tuple[str, dict | None]:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (tests run one per test): nothing carries over
            self.loop, self.pending, self.readers = loop, [], set()
        future = loop.create_future()
        self.pending.append((job_id, session_key, future))
        if len(self.readers) < self.IN_FLIGHT:
            reader = loop.create_task(self._read_pending(), name="watcher-connect-reads")
            self.readers.add(reader)
            reader.add_done_callback(self.readers.discard)  # also one cancelled before it ever ran
        return await future

    async def _read_pending(self) -> None:
        try:
            await self._read_batches()
        finally:
            # Leave the readers the moment the loop ends, not in a done callback one turn later: a socket
            # arriving in between would count this reader as in flight and wait for a batch nobody reads.
            self.readers.discard(asyncio.current_task())

    async def _read_batches(self) -> None:
        await asyncio.sleep(0)  # sockets that arrive in this turn of the loop join the batch
        while self.pending:
            batch, self.pending = self.pending[: self.BATCH], self.pending[self.BATCH :]
            try:
                verdicts = await read_for_watchers([(job_id, key) for job_id, key, _ in batch])
            except BaseException as exc:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (*_, future), verdict in zip(batch, verdicts, strict=True):
                if not future.done():  # a socket that left meanwhile
                    future.set_result(verdict)


CONNECT_READS = ConnectReads()


@watcher_read
def read_snapshot(job_id) -> dict:
    return job_snapshot(Job.objects.without_prompt().select_related("template").get(pk=job_id))


@watcher_read
def read_queue_order(job_id, changed_at: float):
    return queue_order(job_id, changed_at=changed_at)


class JobConsumer(AsyncJsonWebsocketConsumer):
    """Only the job's owner (same account or same session) or staff may watch it."""

    groups_joined: tuple[str, ...] = ()
    shown: dict | None = None
    heard: tuple[str | None, int] = (None, 0)  # (stream, seq) of the last update heard
    snapshot_asked_at = 0.0
    queue_changed_at = 0.0  # the newest queue change heard (`at`, seconds since the epoch)
    place_pacer: Pacer | None = None

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch without its database hop before every message.

        Channels closes old database connections before each handler, one trip to its single database thread
        per message: at a few thousand job updates a second that trip was the web process's largest cost and
        made every update wait its turn in that thread. Every read here goes through `watcher_read`, which
        closes old connections around itself, so the hop protects nothing.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        session_key = self.scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME, "")
        # Join before reading: an update published meanwhile waits in this consumer's queue. Then one read
        # decides who may watch and gives the snapshot (a refused socket leaves its groups again).
        self.groups_joined = (job_group(self.job_id), QUEUE_GROUP)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        verdict, snapshot = await CONNECT_READS.read(self.job_id, session_key)
        if snapshot is None:
            for group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined = ()
            # Accept first: a close code only reaches the browser on an open socket.
            await self.accept()
            await self.close(code=NOT_FOUND if verdict == "not_found" else REFUSED)
            return
        WEBSOCKET_WATCHERS.inc()
        WATCHERS.add(self)
        await self.accept()
        await self.show(snapshot)

    async def disconnect(self, code: int) -> None:
        WATCHERS.discard(self)
        if self.place_pacer is not None:
            self.place_pacer.cancel()
        if self.groups_joined:
            WEBSOCKET_WATCHERS.dec()
        await self.leave_queue_group()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = ()

    async def job_update(self, event: dict) -> None:
        self.heard = (event.get("stream"), event.get("seq") or 0)
        job = event["job"]
        if self.shown is not None and job.get("at", 0) < self.shown.get("at", 0):
            return  # older than what the page shows (published before the snapshot was read)
        await self.show(job, numbered=self.heard)

    async def job_heartbeat(self, event: dict) -> None:
        """A publisher's last delivered update: one this consumer never heard means it missed some."""
        if self.shown is None or self.shown["status"] in Job.FINAL_STATUSES:
            return
        delivered = (event.get("stream"), event.get("seq") or 0)
        if delivered[0] == self.heard[0] and delivered[1] <= self.heard[1]:
            return
        self.heard = delivered
        await self.resync()

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """What a page sends: only a snapshot request means something; anything else is ignored, not an error."""
        try:
            content = json.loads(text_data) if text_data else None
        except ValueError:
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        """The page saw a gap in the numbers: it asks for the stored state (answered at most every 2 s)."""
        if isinstance(content, dict) and content.get("type") == "snapshot":
            now = time.monotonic()
            if now - self.snapshot_asked_at >= SNAPSHOT_INTERVAL:
                self.snapshot_asked_at = now
                await self.resync()

    async def resync(self) -> None:
        """Re-read the job from the database and show it, unless what the page shows is newer."""
        if self.shown is not None and self.shown["status"] in Job.FINAL_STATUSES:
            return  # nothing comes after a final state
        stored = await read_snapshot(self.job_id)
        if self.shown is not None and stored.get("at", 0) < self.shown.get("at", 0):
            stored = self.shown
        await self.show(stored)

    async def job_preview(self, event: dict) -> None:
        """The picture forming: only while the page shows the job running (a result replaces it)."""
        if self.shown is not None and self.shown["status"] == Job.Status.RUNNING:
            await self.send_json({"type": "preview", "image": event["image"]})

    async def queue_changed(self, event: dict) -> None:
        """Jobs joined or left the queue: push this job's place, at most once per PLACE_INTERVAL (pacing)."""
        if self.shown is None or self.shown["status"] != Job.Status.QUEUED:
            return
        self.queue_changed_at = max(self.queue_changed_at, event["at"])
        if self.place_pacer is None:
            self.place_pacer = Pacer(self.show_place, PLACE_INTERVAL)
        await self.place_pacer.call()

    async def show_place(self) -> None:
        """The job's place after the newest queue change, with the places of the visitor's other waiting jobs
        from the same reading of the queue, when one of them moved."""
        if self.shown is None or self.shown["status"] != Job.Status.QUEUED:
            return
        changed_at = self.queue_changed_at
        order = QUEUE_ORDER.computed_since(changed_at)  # thousands of pages: one computes, the rest read
        if order is None:
            order = await read_queue_order(self.job_id, changed_at)
        key = str(self.job_id)
        place, wait = order.places.get(key), order.waits.get(key)
        if place is None or self.shown["status"] != Job.Status.QUEUED:
            return  # it left the queue: its own update says what comes next
        places = places_of(order, self.shown.get("places") or [key])
        shown = self.shown
        if (place, wait, places) != (shown["queue_position"], shown["estimate_seconds"], shown.get("places")):
            moved = {"queue_position": place, "estimate_seconds": wait, "places": places}
            await self.show({**shown, **moved, "places_at": order.computed_at})

    async def show(self, job: dict, numbered: tuple[str | None, int] | None = None) -> None:
        """Send the job to the page; a live update with its number (a page that sees a gap asks for a snapshot)."""
        self.shown = job
        frame = {"type": "job", "job": job}
        if numbered is not None and numbered[0] is not None:
            frame["stream"], frame["seq"] = numbered
        await self.send_json(frame)
        if job["status"] not in WAITING:
            await self.leave_queue_group()

    async def leave_queue_group(self) -> None:
        if QUEUE_GROUP in self.groups_joined:
            await self.channel_layer.group_discard(QUEUE_GROUP, self.channel_name)
            self.groups_joined = tuple(g for g in self.groups_joined if g != QUEUE_GROUP)
