"""Small asyncio building blocks shared by the agent and the web app."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def until_first_done(*coroutines: Coroutine[Any, Any, Any]) -> None:
    """Run the coroutines together until one of them ends, then cancel the rest and let them unwind.

    Two halves of a relay (each direction of a socket pair, or frames out and a client's
    hang-up in) stop together this way, with no task left running behind.
    """
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
