"""The browser's live view of one job: the persisted snapshot first, then every update."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from comfyweb.jobs.events import job_group
from comfyweb.jobs.metrics import WEBSOCKET_WATCHERS
from comfyweb.jobs.models import Job
from comfyweb.jobs.selectors import can_view, job_snapshot

REFUSED = 4403
NOT_FOUND = 4404


@database_sync_to_async
def visible_snapshot(job_id, user, session_key: str) -> dict | bool | None:
    job = Job.objects.select_related("template").filter(pk=job_id).first()
    if job is None:
        return None
    if not can_view(job, user=user, session_key=session_key):
        return False
    return job_snapshot(job)


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

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            WEBSOCKET_WATCHERS.dec()
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_update(self, event: dict) -> None:
        await self.send_json({"type": "job", "job": event["job"]})
