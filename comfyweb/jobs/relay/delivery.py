"""Sending to the channel layer without ever failing the sender: numbered, guarded, retried.

Redis may be down for a while (a restart, a network blip). A worker must go on running its jobs
meanwhile, so no send may raise into it: each is bounded in time, a failure is logged once per outage
(not once per job and tick), and a job's newest undelivered state is sent again with back-off until the
layer answers (a newer state that gets through replaces it).

Every job update carries a sequence number: `stream` names the process that published it, `seq` counts
that process's updates of that job (1, 2, 3…). A watcher that hears a heartbeat (`job.heartbeat`: the
last `seq` delivered) newer than the last update it heard knows it missed one and re-reads the job
from the database (comfyweb.jobs.relay.consumers).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict

logger = logging.getLogger(__name__)

STREAM = uuid.uuid4().hex[:12]  # this process, as the publisher of the updates it numbers
SEND_TIMEOUT = 2.0  # seconds one send may take (a Redis that does not answer must not stall a worker)
RETRY_FIRST, RETRY_MAX = 0.25, 2.0  # back-off between two tries of the undelivered states (seconds)
RETRY_FOR = 600.0  # seconds an undelivered state is tried again before it is dropped
REMIND_EVERY = 30.0  # seconds between two log lines of one outage
TRACKED_JOBS = 20_000  # jobs whose numbers a process remembers (the oldest are forgotten first)


class Sequences:
    """This process's numbering of each job's updates, and the last number delivered."""

    def __init__(self, size: int = TRACKED_JOBS) -> None:
        self.size = size
        self._next: OrderedDict[object, int] = OrderedDict()
        self._delivered: dict[object, int] = {}

    def next(self, job_id) -> int:
        seq = self._next.pop(job_id, 0) + 1
        self._next[job_id] = seq
        while len(self._next) > self.size:
            oldest, _seq = self._next.popitem(last=False)
            self._delivered.pop(oldest, None)
        return seq

    def delivered(self, job_id, seq: int) -> None:
        if job_id in self._next and seq > self._delivered.get(job_id, 0):
            self._delivered[job_id] = seq

    def last_delivered(self, job_id) -> int:
        return self._delivered.get(job_id, 0)

    def forget(self, job_id) -> None:
        self._next.pop(job_id, None)
        self._delivered.pop(job_id, None)


class LayerTrouble:
    """Log an outage of the channel layer once, remind of it now and then, and say when it is over."""

    def __init__(self) -> None:
        self.failing_since: float | None = None
        self.failed = 0
        self._reminded = 0.0

    def failure(self, exc: BaseException) -> None:
        self.failed += 1
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = self._reminded = now
            logger.warning("channel layer unavailable (%s): job updates are kept and sent again", exc or type(exc))
        elif now - self._reminded >= REMIND_EVERY:
            self._reminded = now
            logger.warning("channel layer still unavailable after %.0f s (%d sends failed)",
                           now - self.failing_since, self.failed)  # fmt: skip

    def success(self) -> None:
        if self.failing_since is not None:
            logger.warning("channel layer answers again after %.1f s (%d sends failed meanwhile)",
                           time.monotonic() - self.failing_since, self.failed)  # fmt: skip
            self.failing_since, self.failed = None, 0


SEQUENCES = Sequences()
TROUBLE = LayerTrouble()


async def send_to_group(layer, group: str, event: dict, *, job_id=None, redeliver: bool = False) -> bool:
    """Send `event` to `group`; never raises (but for cancellation). False when it did not get through.

    With `redeliver`, a job's event that did not get through is sent again later (REDELIVERY).
    """
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            await layer.group_send(group, event)
    except Exception as exc:  # Redis down, refused, timed out: the sender goes on either way
        TROUBLE.failure(exc)
        if redeliver and job_id is not None:
            REDELIVERY.keep(layer, group, job_id, event)
        return False
    TROUBLE.success()
    if job_id is not None and "seq" in event:
        SEQUENCES.delivered(job_id, event["seq"])
        REDELIVERY.superseded(job_id, event["seq"])
    return True


async def send_many_to_groups(layer, sends: list[tuple[str, dict, object]], *, redeliver: bool = False) -> bool:
    """Send several (group, event, job id) at once; never raises (but for cancellation).

    A layer with `group_send_many` (comfyweb.jobs.relay.layer: one pipelined round trip to Redis for all)
    takes them in one call; any other layer one by one. With `redeliver`, what did not get through is
    sent again later, as with `send_to_group`.
    """
    many = getattr(layer, "group_send_many", None)
    if many is None:
        delivered = True
        for group, event, job_id in sends:
            delivered = await send_to_group(layer, group, event, job_id=job_id, redeliver=redeliver) and delivered
        return delivered
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            await many([(group, event) for group, event, _job_id in sends])
    except Exception as exc:  # Redis down, refused, timed out: the worker goes on either way
        TROUBLE.failure(exc)
        if redeliver:
            for group, event, job_id in sends:
                if job_id is not None:
                    REDELIVERY.keep(layer, group, job_id, event)
        return False
    TROUBLE.success()
    for _group, event, job_id in sends:
        if job_id is not None and "seq" in event:
            SEQUENCES.delivered(job_id, event["seq"])
            REDELIVERY.superseded(job_id, event["seq"])
    return True


class Redelivery:
    """The newest undelivered update of each job, sent again with back-off by one task per event loop."""

    def __init__(self) -> None:
        self.pending: dict[object, tuple] = {}  # job id -> (layer, group, event, first failure, monotonic)
        self._task: asyncio.Task | None = None
        self.delivered = 0

    def keep(self, layer, group: str, job_id, event: dict) -> None:
        since = self.pending.get(job_id, (None, None, None, time.monotonic()))[3]
        self.pending[job_id] = (layer, group, event, since)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._send_again())

    def superseded(self, job_id, seq: int) -> None:
        """A newer update of the job got through: the older undelivered one is not needed any more."""
        entry = self.pending.get(job_id)
        if entry is not None and entry[2].get("seq", 0) <= seq:
            del self.pending[job_id]

    def forget(self, job_id) -> None:
        self.pending.pop(job_id, None)

    def stop(self) -> None:
        """Give up on what is still undelivered (the process stops; the watchers re-read the stored jobs)."""
        self.pending.clear()
        if self._task is not None:
            self._task.cancel()

    async def _send_again(self) -> None:
        delay = RETRY_FIRST
        while self.pending:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            for job_id, (layer, group, event, since) in list(self.pending.items()):
                if time.monotonic() - since > RETRY_FOR:
                    self.pending.pop(job_id, None)
                    continue
                if not await self._try(layer, group, event):
                    break  # still down: wait longer before the next round
                if self.pending.get(job_id, (None, None, None))[2] is event:
                    del self.pending[job_id]
                self.delivered += 1
                delay = RETRY_FIRST

    async def _try(self, layer, group: str, event: dict) -> bool:
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await layer.group_send(group, event)
        except Exception as exc:
            TROUBLE.failure(exc)
            return False
        TROUBLE.success()
        return True


REDELIVERY = Redelivery()
