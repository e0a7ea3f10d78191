"""The Redis channel layer through a Redis kill -9 and restart: senders never fail, watchers hear it is back.

A test-owned redis-server (tests/services.py `RedisServer`) under the site's own layer class. While it is
down, sends return False at once instead of raising, and a job's newest update waits in the redelivery;
once it is back, the subscription connection reports its reconnect (every open socket then re-reads its
job) and the update waiting is delivered.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from comfyweb.jobs.relay.delivery import REDELIVERY, TROUBLE, send_to_group
from comfyweb.jobs.relay.resync import WATCHERS
from tests.jobs.conftest import layer_on

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


class Recorder:
    """A watcher that counts its re-reads."""

    def __init__(self) -> None:
        self.resyncs = 0

    async def resync(self) -> None:
        self.resyncs += 1


async def eventually(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


async def test_a_restarted_redis_is_survived_by_senders_and_announced_to_watchers(redis_server):
    receiver, sender = layer_on(redis_server), layer_on(redis_server)
    channel = await receiver.new_channel()
    await receiver.group_add("job_x", channel)
    recorder = Recorder()
    WATCHERS.add(recorder)
    reconnects = WATCHERS.reconnects
    try:
        assert await send_to_group(sender, "job_x", {"type": "job.update", "seq": 1}, job_id="x")
        assert (await asyncio.wait_for(receiver.receive(channel), 10))["seq"] == 1

        redis_server.kill()
        delivered = await send_to_group(sender, "job_x", {"type": "job.update", "seq": 2}, job_id="x", redeliver=True)
        assert delivered is False, "a failed send answers False, it does not raise"
        assert "x" in REDELIVERY.pending and TROUBLE.failing_since is not None
        await asyncio.sleep(1)
        redis_server.start()

        await eventually(lambda: WATCHERS.reconnects > reconnects, "the subscription reports its reconnect")
        await eventually(lambda: recorder.resyncs >= 1, "the open watcher re-read its job")
        await eventually(lambda: "x" not in REDELIVERY.pending, "the waiting update was delivered")
        assert TROUBLE.failing_since is None

        assert await send_to_group(sender, "job_x", {"type": "job.update", "seq": 3}, job_id="x")
        while (message := await asyncio.wait_for(receiver.receive(channel), 10))["seq"] != 3:
            assert message["seq"] == 2  # the redelivered one, when the subscription was back in time for it
    finally:
        WATCHERS.discard(recorder)
        await receiver.flush()
        await sender.flush()
