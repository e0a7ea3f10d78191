"""The relay's batched publish through the site's Redis layer: one call, every message, in order.

A worker publishes one tick's states of hundreds of jobs with `send_many_to_groups`, which the layer sends
as one pipeline. Against a test-owned redis-server: each group hears its own messages in the order sent,
and with Redis gone the batch answers False (never raises) and keeps each job's newest one for later. A
consumer's own channel is not subscribed in Redis: only its groups are.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from comfyweb.jobs.relay.delivery import REDELIVERY, send_many_to_groups
from tests.jobs.conftest import layer_on

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


async def test_a_batch_reaches_every_group_in_order(redis_server):
    receiver, sender = layer_on(redis_server), layer_on(redis_server)
    channels = {}
    for group in ("job_a", "job_b"):
        channels[group] = await receiver.new_channel()
        await receiver.group_add(group, channels[group])
    sends = [(group, {"type": "job.update", "seq": seq}, group) for seq in (1, 2, 3) for group in ("job_a", "job_b")]
    assert await send_many_to_groups(sender, sends)
    for group, channel in channels.items():
        heard = [(await asyncio.wait_for(receiver.receive(channel), 10))["seq"] for _ in range(3)]
        assert heard == [1, 2, 3], group


async def test_a_batch_without_redis_answers_false_and_keeps_the_newest_of_each_job(redis_server):
    sender = layer_on(redis_server)
    redis_server.kill()
    sends = [("job_c", {"type": "job.update", "seq": seq}, "c") for seq in (1, 2)]
    try:
        assert await send_many_to_groups(sender, sends, redeliver=True) is False
        assert REDELIVERY.pending["c"][2]["seq"] == 2
    finally:
        REDELIVERY.stop()


async def test_a_consumers_own_channel_is_not_subscribed_in_redis_only_its_groups(redis_server):
    """Every message goes to a group: a socket costs Redis one SUBSCRIBE (its job's group), not two, and a
    message sent to the channel from its own process still reaches it."""
    receiver = layer_on(redis_server)
    channel = await receiver.new_channel()
    await receiver.group_add("job_d", channel)
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        subscribed = sorted(name.decode() for name in await client.pubsub_channels())
        assert subscribed == ["asgi__group__job_d"], subscribed
        await receiver.send(channel, {"type": "job.update", "seq": 9})
        assert (await asyncio.wait_for(receiver.receive(channel), 10))["seq"] == 9
        await layer_on(redis_server).group_send("job_d", {"type": "job.update", "seq": 10})
        assert (await asyncio.wait_for(receiver.receive(channel), 10))["seq"] == 10
    finally:
        await client.aclose()
        await receiver.flush()
