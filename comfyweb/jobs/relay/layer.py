"""The Redis channel layer (channels_redis's pub/sub layer) telling the relay when its subscription came back.

channels_redis reconnects a dropped pub/sub connection and subscribes again by itself, but says nothing:
messages published in between are lost without a trace. This layer registers a callback on each
subscription connection (redis-py calls it on every reconnect) and tells `resync.WATCHERS`, whose sockets
then re-read their jobs. Everything else is channels_redis's own.
"""

from __future__ import annotations

import asyncio
import logging

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

    async def reconnected(self, connection) -> None:
        logger.warning("channel layer: subscription to %s connected again", self.host.get("address", self.host))
        WATCHERS.layer_reconnected()


class ReconnectAwareLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts=None, *args, **kwargs) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [ReconnectAwareShard(host, self) for host in decode_hosts(hosts)]


class ReconnectAwarePubSubChannelLayer(RedisPubSubChannelLayer):
    """settings.CHANNEL_LAYERS' backend when REDIS_URL is set."""

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = ReconnectAwareLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer
