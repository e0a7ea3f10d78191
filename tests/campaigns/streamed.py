"""Reading a streamed download in a test: the views stream with an asynchronous iterator (as the ASGI server
reads it), so a synchronous test reads it through asgiref, chunk by chunk."""

from __future__ import annotations

from asgiref.sync import async_to_sync


async def read_body(response) -> bytes:
    """The same from a test that runs on an event loop."""
    return b"".join([part async for part in response.streaming_content])


def chunks_of(response) -> list[bytes]:
    async def read() -> list[bytes]:
        return [part async for part in response.streaming_content]

    return async_to_sync(read)()


def body_of(response) -> bytes:
    return b"".join(chunks_of(response))
