"""Core image nodes run for real: the saved PNGs have the sizes and pixels the graph asks for."""

from __future__ import annotations

import io

import aiohttp
from PIL import Image

from tests.emulator.protocol import TIMEOUT, run_prompt
from tests.emulator.test_files import upload


def rgba_png(size: tuple[int, int]) -> bytes:
    image = Image.new("RGBA", size, (255, 0, 0, 255))
    image.paste((0, 0, 255, 0), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def saved(emulator, result: dict, node: str) -> list[Image.Image]:
    images = result["history"]["outputs"][node]["images"]
    folders = {"output": emulator.output_dir, "temp": emulator.temp_dir}
    return [Image.open(folders[i["type"]] / i["subfolder"] / i["filename"]) for i in images]


async def test_load_scale_save_writes_png_of_requested_size(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        name = (await upload(session, emulator.url, rgba_png((40, 30)), "in.png"))["name"]
        workflow = {
            "1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear",
                                                          "width": 80, "height": 50, "crop": "disabled"}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "out/scaled"}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        }  # fmt: skip
        result = await run_prompt(emulator.url, {"prompt": workflow}, session=session)
        again = await run_prompt(emulator.url, {"prompt": {**workflow, "3": {**workflow["3"], "inputs": {
            "images": ["2", 0], "filename_prefix": "out/scaled", "extra": 1}}}}, session=session)  # fmt: skip
    [image] = saved(emulator, result, "3")
    assert image.format == "PNG"
    assert image.size == (80, 50)
    assert result["history"]["outputs"]["3"]["images"][0] == {
        "filename": "scaled_00001_.png", "subfolder": "out", "type": "output"}  # fmt: skip
    assert result["history"]["outputs"]["4"]["images"][0]["type"] == "temp"
    assert again["history"]["outputs"]["3"]["images"][0]["filename"] == "scaled_00002_.png"


async def test_mask_nodes_and_compositing(emulator):
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        name = (await upload(session, emulator.url, rgba_png((20, 10)), "half.png"))["name"]
        workflow = {
            "1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 1]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "mask"}},
            "4": {"class_type": "EmptyImage", "inputs": {"width": 20, "height": 10, "batch_size": 1, "color": 0}},
            "5": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 20, "height": 10}},
            "6": {"class_type": "InvertMask", "inputs": {"mask": ["5", 0]}},
            "7": {"class_type": "ImageCompositeMasked", "inputs": {"destination": ["4", 0], "source": ["1", 0],
                  "x": 0, "y": 0, "resize_source": False, "mask": ["1", 1]}},
            "8": {"class_type": "ImagePadForOutpaint", "inputs": {"image": ["7", 0], "left": 8, "top": 0,
                  "right": 8, "bottom": 0, "feathering": 0}},
            "9": {"class_type": "ImageCrop", "inputs": {"image": ["8", 0], "width": 30, "height": 10, "x": 2, "y": 0}},
            "10": {"class_type": "ImageBlend", "inputs": {"image1": ["9", 0], "image2": ["9", 0],
                   "blend_factor": 0.5, "blend_mode": "screen"}},
            "11": {"class_type": "ImageScaleBy", "inputs": {"image": ["10", 0], "upscale_method": "nearest-exact",
                   "scale_by": 2.0}},
            "12": {"class_type": "ImageInvert", "inputs": {"image": ["11", 0]}},
            "13": {"class_type": "SaveImage", "inputs": {"images": ["12", 0], "filename_prefix": "chain"}},
            "14": {"class_type": "ImageToMask", "inputs": {"image": ["4", 0], "channel": "red"}},
            "15": {"class_type": "MaskToImage", "inputs": {"mask": ["6", 0]}},
            "16": {"class_type": "SaveImage", "inputs": {"images": ["15", 0], "filename_prefix": "inverted"}},
        }  # fmt: skip
        result = await run_prompt(emulator.url, {"prompt": workflow}, session=session)
    assert result["history"]["status"]["status_str"] == "success"
    [mask] = saved(emulator, result, "3")
    assert mask.getpixel((2, 5)) == (255, 255, 255)  # transparent half: mask 1
    assert mask.getpixel((17, 5)) == (0, 0, 0)
    [chain] = saved(emulator, result, "13")
    assert chain.size == (60, 20)
    [inverted] = saved(emulator, result, "16")
    assert inverted.getpixel((0, 0)) == (0, 0, 0)


async def test_runtime_error_of_alpha_channel_on_rgb(emulator):
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageToMask", "inputs": {"image": ["1", 0], "channel": "alpha"}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
    }
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        result = await run_prompt(emulator.url, {"prompt": workflow}, session=session)
    error = next(m for m in result["messages"] if m["type"] == "execution_error")["data"]
    assert (error["node_id"], error["exception_type"], error["executed"]) == ("2", "IndexError", ["1"])
    assert result["history"]["outputs"] == {}
