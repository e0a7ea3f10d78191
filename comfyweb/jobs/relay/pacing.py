"""At most one run of an action per interval, and never a change left unsent.

A waiting page is told its new place in line whenever the queue's order changes. In a campaign spike the
order changes several times a second (every submission and every claim) for hundreds of waiting pages, each
told every time: thousands of WebSocket messages a second from the web processes, to phones whose page
already counts the wait down by itself. A `Pacer` runs the first change at once and folds the ones that
follow within the interval into one run at its end, which reads the newest state: at most one message per
interval, and the last change always arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class Pacer:
    """Runs `action` at most once per `interval` seconds: at once when the last run is long enough ago, else
    once at the end of the interval (however many calls came meanwhile). One per event loop's object."""

    def __init__(self, action: Callable[[], Awaitable[object]], interval: float) -> None:
        self.action = action
        self.interval = interval
        self.last_run = float("-inf")  # monotonic
        self.later: asyncio.Task | None = None  # the run due at the end of the interval

    async def call(self) -> None:
        if self.later is not None:
            return  # a run is due: it reads what changed since
        wait = self.last_run + self.interval - time.monotonic()
        if wait <= 0:
            self.last_run = time.monotonic()
            await self.action()
        else:
            self.later = asyncio.create_task(self._run_after(wait))

    async def _run_after(self, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
            self.last_run = time.monotonic()
            await self.action()
        except asyncio.CancelledError:
            raise
        except Exception:  # in a task of its own: nobody else would hear of it
            logger.warning("a paced update failed", exc_info=True)
        finally:
            self.later = None

    def cancel(self) -> None:
        """Drop the run that is due (its page left)."""
        if self.later is not None:
            self.later.cancel()
            self.later = None
