"""Small pictures the suites build on the fly, and their data URLs."""

from __future__ import annotations

import base64
import io

from PIL import Image


def png_bytes(size: tuple[int, int] = (16, 12), color: str = "red", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
