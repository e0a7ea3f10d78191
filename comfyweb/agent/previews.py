"""Live previews on `/api/run/ws`: ComfyUI's latent previews, small, few, and never in the way.

ComfyUI sends a binary preview frame per sampler step when it runs with `--preview-method`
(`auto`, `latent2rgb` or `taesd`; without it there are none). The agent turns them into an
extension frame for WebSocket callers of the task on this instance:

    {"type": "preview", "data": {"node": "<node id or null>", "image": "data:image/jpeg;base64,..."}}

* at most `MAX_PER_SECOND` per task (the others are not even decoded);
* downscaled to 256 pixels on the longer side (JPEG, `comfyweb.comfy.previews`, as the web's relay does), once
  per preview whatever the number of callers;
* dropped, never queued, for a caller whose socket is still busy sending: a slow caller misses
  previews, never progress, and never holds memory for them;
* never stored: a caller following the task through another instance (the shared store) gets none.

A caller turns them off with `?previews=0`; `AGENT_PREVIEWS=0` (`--no-previews`) turns them off by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from comfyweb.comfy.previews import PREVIEW_MAX_SIDE, preview_data_url

logger = logging.getLogger(__name__)

MAX_SIDE = PREVIEW_MAX_SIDE  # 256 px; the web's relay makes the same size (comfyweb.comfy.previews)
MAX_PER_SECOND = 2.0

PreviewListener = Callable[[str], None]  # gets the frame's JSON text; must not block


def preview_frame(node: str | None, data_url: str) -> str:
    return json.dumps({"type": "preview", "data": {"node": node, "image": data_url}})


class PreviewThrottle:
    """One per task: lets through at most MAX_PER_SECOND previews, only while someone listens."""

    def __init__(self, per_second: float = MAX_PER_SECOND, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second
        self.clock = clock
        self.listeners: set[PreviewListener] = set()
        self._last: float | None = None

    async def offer(self, node: str | None, mime: str, data: bytes) -> None:
        if not self.listeners:
            return
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        data_url = await asyncio.to_thread(preview_data_url, data)
        if data_url is None:
            logger.debug("a preview that is not a small picture was dropped")
            return
        frame = preview_frame(node, data_url)
        for listener in list(self.listeners):
            listener(frame)


class PreviewSender:
    """Sends previews on one WebSocket only when it is idle; `lock` is held around every send on it."""

    def __init__(self, send_text: Callable[[str], Awaitable[None]], lock: asyncio.Lock) -> None:
        self.send_text, self.lock = send_text, lock
        self._sending: asyncio.Task | None = None

    def __call__(self, frame: str) -> None:
        if self.lock.locked() or (self._sending is not None and not self._sending.done()):
            return  # the socket is busy: this preview is dropped, not queued
        self._sending = asyncio.create_task(self._send(frame))

    async def _send(self, frame: str) -> None:
        with contextlib.suppress(Exception):
            async with self.lock:
                await self.send_text(frame)

    def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
