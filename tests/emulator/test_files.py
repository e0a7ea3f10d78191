"""/upload/image naming (subfolder, overwrite, dedupe) and /view errors, like ComfyUI."""

from __future__ import annotations

import io

import aiohttp
from PIL import Image

from tests.emulator.protocol import TIMEOUT


def png(color: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


async def upload(session, url: str, data: bytes, name: str, **fields: str) -> dict:
    form = aiohttp.FormData()
    form.add_field("image", data, filename=name, content_type="image/png")
    for key, value in fields.items():
        form.add_field(key, value)
    answer = await session.post(f"{url}/upload/image", data=form)
    assert answer.status == 200
    return await answer.json()


async def test_upload_names_dedupes_and_overwrites(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        first = await upload(session, emulator.url, png((1, 2, 3)), "src.png", subfolder="harness", overwrite="true")
        same = await upload(session, emulator.url, png((1, 2, 3)), "src.png", subfolder="harness")
        other = await upload(session, emulator.url, png((9, 9, 9)), "src.png", subfolder="harness")
        replaced = await upload(session, emulator.url, png((7, 7, 7)), "src.png", subfolder="harness", overwrite="1")
    assert first == same == {"name": "src.png", "subfolder": "harness", "type": "input"}
    assert other == {"name": "src (1).png", "subfolder": "harness", "type": "input"}
    assert replaced["name"] == "src.png"
    assert (emulator.input_dir / "harness" / "src.png").read_bytes() == png((7, 7, 7))


async def test_view_serves_uploads_and_refuses_bad_paths(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        await upload(session, emulator.url, png((5, 5, 5)), "a.png")
        ok = await session.get(f"{emulator.url}/view", params={"filename": "a.png", "type": "input"})
        assert ok.status == 200
        assert ok.content_type == "image/png"
        assert await ok.read() == png((5, 5, 5))
        missing = await session.get(f"{emulator.url}/view", params={"filename": "nope.png"})
        traversal = await session.get(f"{emulator.url}/view", params={"filename": "../secret.png"})
        outside = await session.get(f"{emulator.url}/view", params={"filename": "a.png", "subfolder": "../../etc"})
    assert missing.status == 404
    assert traversal.status == 400
    assert outside.status == 403


async def test_object_info_lists_uploaded_files_for_load_image(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        await upload(session, emulator.url, png((5, 5, 5)), "listed.png")
        info = await (await session.get(f"{emulator.url}/object_info/LoadImage")).json()
        unknown = await (await session.get(f"{emulator.url}/object_info/NoSuchNode")).json()
        everything = await (await session.get(f"{emulator.url}/object_info")).json()
    assert info["LoadImage"]["input"]["required"]["image"][0] == ["listed.png"]
    assert unknown == {}
    assert {"KSampler", "SaveImage", "ImagePadForOutpaint", "InvertMask"} <= set(everything)
