"""The browser's live view of one job: the persisted snapshot first, then every update."""

from __future__ import annotations

import asyncio
import contextlib
import random

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from comfyweb.jobs.events import job_group
from comfyweb.jobs.metrics import WEBSOCKET_WATCHERS
from comfyweb.jobs.models import Job
from comfyweb.jobs.selectors import can_view, estimate_seconds, job_snapshot, queued_place

REFUSED = 4403
NOT_FOUND = 4404
WAITING = (Job.Status.QUEUED, Job.Status.DISPATCHED)
QUEUE_REFRESH_SECONDS = 5.0  # how often a waiting job's position and estimate are looked up again


@database_sync_to_async
def visible_snapshot(job_id, user, session_key: str) -> dict | bool | None:
    job = Job.objects.select_related("template").filter(pk=job_id).first()
    if job is None:
        return None
    if not can_view(job, user=user, session_key=session_key):
        return False
    return job_snapshot(job)


@database_sync_to_async
def place_in_line(job_id) -> tuple[int | None, int | None]:
    """(place, estimate in seconds) of a waiting job; place None once it left the queue."""
    place = queued_place(job_id)
    return place, estimate_seconds(place)


class JobConsumer(AsyncJsonWebsocketConsumer):
    """Only the job's owner (same account or same session) or staff may watch it."""

    async def connect(self) -> None:
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", "") or ""
        snapshot = await visible_snapshot(self.job_id, self.scope.get("user"), session_key)
        if not snapshot:
            # Accept first: a close code only reaches the browser on an open socket.
            await self.accept()
            await self.close(code=NOT_FOUND if snapshot is None else REFUSED)
            return
        self.group = job_group(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        WEBSOCKET_WATCHERS.inc()
        await self.accept()
        await self.send_json({"type": "job", "job": snapshot})
        self.status = snapshot["status"]
        self.refresher = asyncio.create_task(self._refresh_while_waiting(snapshot)) if self.status in WAITING else None

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            WEBSOCKET_WATCHERS.dec()
            await self.channel_layer.group_discard(self.group, self.channel_name)
        refresher = getattr(self, "refresher", None)
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    async def job_update(self, event: dict) -> None:
        self.status = event["job"]["status"]
        await self.send_json({"type": "job", "job": event["job"]})

    async def _refresh_while_waiting(self, shown: dict) -> None:
        """Jobs ahead leaving the queue announce nothing to this one: look its place up again now and then."""
        while self.status in WAITING:
            await asyncio.sleep(QUEUE_REFRESH_SECONDS * random.uniform(0.8, 1.2))
            place, estimate = await place_in_line(self.job_id)
            # An update may have arrived during the lookup: never show an older state after it.
            if place is None or self.status not in WAITING:
                return  # dispatched: the runner announces what comes next
            if (place, estimate) != (shown["queue_position"], shown["estimate_seconds"]):
                shown = {**shown, "queue_position": place, "estimate_seconds": estimate}
                await self.send_json({"type": "job", "job": shown})
