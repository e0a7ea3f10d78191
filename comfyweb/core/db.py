"""Database connections that outlive a database restart in long-running processes (the dispatcher workers).

Django drops a broken connection at the start and end of each request; a worker has no requests, so a
connection broken by a PostgreSQL restart would fail every later query of its thread. After a failed
query, `drop_broken_connections()` in the same thread closes what no longer works; the next query
connects again (and fails fast while the database is still down).

With the PostgreSQL pool, a request holds its borrowed connection until it ends; slow work that needs no
database (decoding photos, the moderation's detector) first hands it back with `release_pooled_connections()`,
so a crowd of uploads cannot keep every connection of the process lent while pages wait for one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connections

DISCONNECTED = (OperationalError, InterfaceError)  # what a query raises when the database went away


def drop_broken_connections() -> None:
    """Close this thread's connections that saw an error and no longer answer."""
    for connection in connections.all(initialized_only=True):
        connection.close_if_unusable_or_obsolete()


def reconnecting[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """`function` (sync, run in any thread) that drops its thread's broken connection when it fails with one."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except DISCONNECTED:
            drop_broken_connections()
            raise

    return call


def release_pooled_connections() -> None:
    """Give this thread's pooled connections back to their pool; the next query borrows one again.

    Not inside a transaction (its connection must stay), and only with a pool (closing an unpooled
    connection would cost a reconnect for nothing).
    """
    for connection in connections.all(initialized_only=True):
        pooled = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
        if pooled and connection.connection is not None and not connection.in_atomic_block:
            connection.close()
