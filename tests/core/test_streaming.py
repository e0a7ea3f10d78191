"""A streamed file's source is closed once, after the read in flight, when the client leaves mid-read."""

from __future__ import annotations

import asyncio
import threading

from comfyweb.core.streaming import pulled


async def test_a_client_that_leaves_during_a_read_has_the_source_closed_after_it():
    reading = threading.Event()
    go_on = threading.Event()
    events: list[str] = []

    def source():
        try:
            yield b"first"
            reading.set()
            go_on.wait(30)  # a slow disk or bucket
            events.append("second read")
            yield b"second"
        finally:
            events.append("closed")

    chunks = pulled(source())

    async def client() -> None:
        async for chunk in chunks:
            events.append(chunk.decode())

    task = asyncio.create_task(client())
    while not reading.is_set():
        await asyncio.sleep(0.01)
    task.cancel()  # the client left while the second chunk was being read
    await asyncio.sleep(0.05)
    go_on.set()
    try:
        await task
    except asyncio.CancelledError:
        pass
    await chunks.aclose()
    assert events == ["first", "second read", "closed"]
