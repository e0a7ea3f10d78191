"""The batched reads of connecting sockets (consumers.ConnectReads): no socket waits for a batch nobody reads."""

from __future__ import annotations

import asyncio

from comfyweb.jobs.relay import consumers


async def test_a_socket_arriving_as_the_last_readers_finish_is_still_read(monkeypatch):
    """Both readers end their loops in one turn of the event loop, and a socket arrives in that same turn,
    before their tasks' done callbacks run: it must be read (a reader counted as in flight after its loop
    ended left such a socket waiting until the next socket came)."""
    loop = asyncio.get_running_loop()
    database = loop.create_future()
    batches: list[list] = []

    async def read(asks):
        batches.append([job_id for job_id, _key in asks])
        if len(batches) <= 2:
            await database
        return [("found", {"id": job_id}) for job_id, _key in asks]

    monkeypatch.setattr(consumers, "read_for_watchers", read)
    reads = consumers.ConnectReads()
    late: list[asyncio.Task] = []
    # Registered before the readers wait on it: when the database answers, this runs first and the new
    # socket's first step is queued right behind the two readers' last steps (ahead of their callbacks).
    database.add_done_callback(lambda _: late.append(loop.create_task(reads.read("c", "key"))))

    first = asyncio.create_task(reads.read("a", "key"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(reads.read("b", "key"))
    await asyncio.sleep(0.01)
    assert batches == [["a"], ["b"]] and len(reads.readers) == consumers.ConnectReads.IN_FLIGHT

    database.set_result(None)
    assert await asyncio.wait_for(asyncio.gather(first, second), 10) == [("found", {"id": "a"}), ("found", {"id": "b"})]
    # Not a timing bound: without the fix this read never completes (no reader is left to take it).
    assert await asyncio.wait_for(late[0], 10) == ("found", {"id": "c"})
    assert batches[-1] == ["c"]
    assert not reads.readers


async def test_a_failed_batch_fails_its_sockets_and_the_next_ones_are_read(monkeypatch):
    """The database away: the sockets of that batch get the error (their connect fails, the page retries),
    and the reads after it go on."""
    answers = iter([ConnectionError("database away"), None])

    async def read(asks):
        failure = next(answers)
        if failure is not None:
            raise failure
        return [("found", {"id": job_id}) for job_id, _key in asks]

    monkeypatch.setattr(consumers, "read_for_watchers", read)
    reads = consumers.ConnectReads()
    failed = await asyncio.gather(reads.read("a", "key"), return_exceptions=True)
    assert isinstance(failed[0], ConnectionError)
    assert await asyncio.wait_for(reads.read("b", "key"), 10) == ("found", {"id": "b"})
    assert not reads.readers
