"""The Redis channel layer (channels_redis's pub/sub layer) telling the relay when its subscription came back,
and publishing a batch of group messages in one round trip.

channels_redis reconnects a dropped pub/sub connection and subscribes again by itself, but says nothing:
messages published in between are lost without a trace. This layer registers a callback on each
subscription connection (redis-py calls it on every reconnect) and tells `resync.WATCHERS`, whose sockets
then re-read their jobs.

channels_redis publishes each group message on its own, one round trip to Redis after the other under a
lock: a worker relaying 500 jobs per tick waited for 500 round trips. `group_send_many` sends a tick's
messages as one pipeline per Redis host (PUBLISH commands, not a transaction).

channels_redis subscribes every consumer's own channel in Redis; nothing here sends to one (every message
goes to a group), so a consumer's channel lives in its process only (`new_channel`). Everything else is
channels_redis's own.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

from comfyweb.jobs.relay.resync import WATCHERS

logger = logging.getLogger(__name__)


class ReconnectAwareShard(RedisSingleShardConnection):
    """One Redis host; its subscription connection reports reconnects."""

    _watched = None  # the subscription connection the callback is registered on

    async def subscribe(self, channel) -> None:
        await super().subscribe(channel)
        connection = getattr(self._pubsub, "connection", None)
        if connection is not None and connection is not self._watched:
            # redis-py calls it on each later connect of this connection (the first one is done).
            connection.register_connect_callback(self.reconnected)
            self._watched = connection

    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        """PUBLISH each (channel, message) in one pipeline: one round trip for all."""
        async with self._lock:
            self._ensure_redis()
            pipe = self._redis.pipeline(transaction=False)
            for channel, message in messages:
                pipe.publish(channel, message)
            await pipe.execute()

    async def reconnected(self, connection) -> None:
        logger.warning("channel layer: subscription to %s connected again", self.host.get("address", self.host))
        WATCHERS.layer_reconnected()


class ReconnectAwareLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts=None, *args, **kwargs) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [ReconnectAwareShard(host, self) for host in decode_hosts(hosts)]

    async def new_channel(self, prefix: str = "specific.") -> str:
        """A consumer's own channel, known to this process only (no SUBSCRIBE in Redis).

        Every message of this project goes to a group; none is sent to one consumer's channel. channels_redis
        subscribes each consumer's channel anyway: a SUBSCRIBE when a socket opens and an UNSUBSCRIBE when it
        closes, each a command and a reply under the connection's lock (the watchers bench at 6,000 sockets:
        337–380 connects a second with them, 398–442 without). A message `send` to such a channel from this
        process still reaches it.
        """
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue()
        return channel

    async def send(self, channel, message) -> None:
        local = self.channels.get(channel)
        if local is not None:
            local.put_nowait(self.channel_layer.serialize(message))
        else:
            await super().send(channel, message)

    async def group_send_many(self, messages: list[tuple[str, dict]]) -> None:
        """Send each (group, message), in order, with one round trip per Redis host."""
        by_shard: dict[ReconnectAwareShard, list[tuple[str, bytes]]] = {}
        for group, message in messages:
            channel = self._get_group_channel_name(group)
            by_shard.setdefault(self._get_shard(channel), []).append((channel, self.channel_layer.serialize(message)))
        for shard, batch in by_shard.items():
            await shard.publish_many(batch)


class ReconnectAwarePubSubChannelLayer(RedisPubSubChannelLayer):
    """settings.CHANNEL_LAYERS' backend when REDIS_URL is set."""

    async def group_send_many(self, messages: list[tuple[str, dict]]) -> None:
        await self._get_layer().group_send_many(messages)

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = ReconnectAwareLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer
