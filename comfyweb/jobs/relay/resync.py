"""Watchers that re-read their job from the database once this process's channel layer subscription is back.

Redis pub/sub keeps nothing: what was published while a web process's subscription was down (a Redis
restart, a dropped connection) never reaches it. So every open job socket registers here, and when the
layer's subscription connection comes back (`comfyweb.jobs.relay.layer`), each re-reads its job: the
stored state is the truth, and a job that ended meanwhile reaches its page. The reads are spread over
RESYNC_SPREAD seconds and at most RESYNC_AT_ONCE run together, so thousands of sockets do not hit the
database in one instant.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)

RESYNC_SPREAD = 1.0  # seconds over which the re-reads after a reconnect are spread
RESYNC_AT_ONCE = 20  # re-reads running together in one process


class Watcher(Protocol):
    async def resync(self) -> None: ...


class Watchers:
    """The job sockets open in this process."""

    def __init__(self) -> None:
        self._open: weakref.WeakSet[Watcher] = weakref.WeakSet()
        self._pending: set[asyncio.Task] = set()
        self._limits: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self.reconnects = 0

    def add(self, watcher: Watcher) -> None:
        self._open.add(watcher)

    def discard(self, watcher: Watcher) -> None:
        self._open.discard(watcher)

    def __len__(self) -> int:
        return len(self._open)

    def layer_reconnected(self) -> None:
        """The subscription is back: every open socket re-reads its job, soon."""
        self.reconnects += 1
        watchers = list(self._open)
        logger.warning("channel layer subscription is back: %d job socket(s) re-read their job", len(watchers))
        for watcher in watchers:
            task = asyncio.ensure_future(self._resync(watcher, random.uniform(0, RESYNC_SPREAD)))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _resync(self, watcher: Watcher, delay: float) -> None:
        await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        limit = self._limits.setdefault(loop, asyncio.Semaphore(RESYNC_AT_ONCE))
        async with limit:
            try:
                await watcher.resync()
            except Exception:  # a socket closing meanwhile, the database down: its page reconnects or waits
                logger.info("a job socket could not re-read its job", exc_info=True)


WATCHERS = Watchers()
