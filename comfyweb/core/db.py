"""Database connections that outlive a database restart in long-running processes (the dispatcher workers).

Django drops a broken connection at the start and end of each request; a worker has no requests, so a
connection broken by a PostgreSQL restart would fail every later query of its thread. After a failed
query, `drop_broken_connections()` in the same thread closes what no longer works; the next query
connects again (and fails fast while the database is still down).
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
