"""The purge in the worker (`runjobs`, and the one inside `serve`): every PURGE_INTERVAL seconds, in a thread.

With several workers on PostgreSQL, one purges at a time (a session advisory lock): the others skip
that round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections

from comfyweb.jobs.trust.purge import PurgeReport, purge

logger = logging.getLogger(__name__)

LOCK_KEY = "comfyweb:purge"


@contextlib.contextmanager
def purge_lock() -> Iterator[bool]:
    """True when this process may purge now (PostgreSQL: nobody else holds the lock; other databases: always)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [LOCK_KEY])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [LOCK_KEY])


def purge_once() -> PurgeReport | None:
    """One round, unless another worker is purging; errors are logged, never raised into the worker."""
    try:
        with purge_lock() as mine:
            return purge() if mine else None
    except Exception:
        logger.exception("the purge failed; it runs again in %s s", settings.PURGE_INTERVAL)
        return None
    finally:
        connections.close_all()  # this thread's own connections: the pool thread may never run again


FIRST_DELAY = 60.0  # seconds after the worker starts: its first claims come first


async def purge_periodically(stopping: asyncio.Event) -> None:
    """Purge soon after the start, then every PURGE_INTERVAL seconds until `stopping` is set (0: never)."""
    interval = settings.PURGE_INTERVAL
    if interval <= 0:
        return
    delay = min(interval, FIRST_DELAY)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=delay)
        if stopping.is_set():
            return
        await sync_to_async(purge_once, thread_sensitive=False)()
        delay = interval
