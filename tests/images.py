"""Small pictures the suites build on the fly, their data URLs, and a web process busy decoding pictures."""

from __future__ import annotations

import base64
import contextlib
import io
import threading
from collections.abc import Iterator

from PIL import Image

from comfyweb.comfy.images import DecodeSlots, decode_slots


def png_bytes(size: tuple[int, int] = (16, 12), color: str = "red", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@contextlib.contextmanager
def every_decode_slot_taken(size: int) -> Iterator[DecodeSlots]:
    """The process's decode slots of `size` (the web's, for IMAGE_DECODES_AT_ONCE = size), all held by
    other threads until the block ends: like a web process busy decoding other visitors' photos."""
    slots = decode_slots(size)
    taken, release = threading.Barrier(size + 1), threading.Event()

    def hold() -> None:
        with slots.slot(wait=10):
            taken.wait(10)
            release.wait(60)

    holders = [threading.Thread(target=hold) for _ in range(size)]
    for holder in holders:
        holder.start()
    taken.wait(10)
    try:
        yield slots
    finally:
        release.set()
        for holder in holders:
            holder.join(10)
