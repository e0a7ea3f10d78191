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


async def test_view_statuses_follow_comfyui(emulator):
    """400 for an empty or unsafe name and an unknown type, 403 outside the folder, 404 when absent."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        await upload(session, emulator.url, png((5, 5, 5)), "v.png", subfolder="sub")
        cases = {
            "bad-type": {"filename": "v.png", "subfolder": "sub", "type": "bogus"},
            "empty-name": {"filename": ""},
            "absolute-name": {"filename": "/etc/passwd"},
            "no-name": {},
            "annotated": {"filename": "v.png [input]", "subfolder": "sub", "type": "output"},
            "name-with-folder": {"filename": "sub/v.png", "type": "input"},
            "folder-in-subfolder": {"filename": "x/v.png", "subfolder": "sub", "type": "input"},
        }
        statuses = {}
        for case, params in cases.items():
            async with session.get(f"{emulator.url}/view", params=params) as answer:
                statuses[case] = answer.status
    assert statuses == {
        "bad-type": 400,
        "empty-name": 400,
        "absolute-name": 400,
        "no-name": 404,
        "annotated": 200,  # the annotation wins over `type`
        "name-with-folder": 404,  # only the base name counts, looked up in the folder itself
        "folder-in-subfolder": 200,
    }


async def test_view_converts_channels_and_previews(emulator):
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 3), (10, 20, 30, 40)).save(buffer, format="PNG")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        await upload(session, emulator.url, buffer.getvalue(), "rgba.png")
        base = {"filename": "rgba.png", "type": "input"}
        rgb = await (await session.get(f"{emulator.url}/view", params={**base, "channel": "rgb"})).read()
        alpha = await (await session.get(f"{emulator.url}/view", params={**base, "channel": "a"})).read()
        preview = await session.get(f"{emulator.url}/view", params={**base, "preview": "jpeg;50"})
        preview_body = await preview.read()
    assert Image.open(io.BytesIO(rgb)).getpixel((0, 0)) == (10, 20, 30)
    assert Image.open(io.BytesIO(alpha)).getpixel((0, 0)) == (0, 0, 0, 40)
    assert preview.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(preview_body)).format == "JPEG"


async def test_system_stats_has_the_keys_of_comfyui_0_3_75(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        stats = await (await session.get(f"{emulator.url}/system_stats")).json()
    assert sorted(stats) == ["devices", "system"]
    assert sorted(stats["system"]) == sorted([
        "os", "ram_total", "ram_free", "comfyui_version", "required_frontend_version", "installed_templates_version",
        "required_templates_version", "python_version", "pytorch_version", "embedded_python", "argv",
    ])  # fmt: skip
    assert stats["system"]["comfyui_version"] == "0.3.75"
    assert sorted(stats["devices"][0]) == sorted(
        ["name", "type", "index", "vram_total", "vram_free", "torch_vram_total", "torch_vram_free"]
    )
