"""Reading what ComfyUI saves: API prompts, UI workflows and the PNG/WebP pictures that carry them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from comfyweb.catalog.comfyui_files import (
    ComfyUIFileError,
    embed_in_png,
    embed_in_webp,
    is_comfyui_export,
    png_texts,
    read_export,
    read_file,
)
from tests.comfy.workflow.ui_cases import txt2img

RECORDED = json.loads((Path(__file__).resolve().parents[2] / "comfyweb/emulator/object_info.json").read_text())


def picture() -> Image.Image:
    return Image.new("RGB", (16, 16), (200, 90, 40))


def test_exports_are_told_apart_from_lists_of_templates():
    case = txt2img()
    assert is_comfyui_export(case.workflow) and is_comfyui_export({"prompt": case.prompt})
    assert not is_comfyui_export([{"title": "t", "prompt": case.prompt}])
    assert not is_comfyui_export({"title": "t", "prompt": case.prompt})


@pytest.mark.parametrize("embed", [embed_in_png, embed_in_webp], ids=["png", "webp"])
def test_a_picture_comfyui_saved_gives_its_prompt_and_groups(embed):
    case = txt2img()
    export = read_file(embed(picture(), case.prompt, case.workflow), RECORDED, filename="lighthouse")
    assert export.prompt == case.prompt
    assert [(g.title, g.node_ids) for g in export.groups] == [("Describe the picture", ["6", "7"]), ("Size", ["5"])]
    only_workflow = read_file(embed(picture(), None, case.workflow), RECORDED)
    assert json.loads(json.dumps(only_workflow.prompt)) == case.prompt
    assert only_workflow.source == embed.__name__.rsplit("_", 1)[-1]


def test_pictures_without_a_workflow_and_other_files_are_refused():
    plain = embed_in_png(picture(), None, None)
    assert png_texts(plain) == {}
    with pytest.raises(ComfyUIFileError, match="holds no ComfyUI workflow"):
        read_file(plain, RECORDED, filename="holiday.png")
    with pytest.raises(ComfyUIFileError, match="neither JSON nor a PNG/WebP"):
        read_file(b"\x00\x01garbage", RECORDED)
    with pytest.raises(ComfyUIFileError, match="neither a ComfyUI workflow"):
        read_export({"hello": "world"}, RECORDED)
    with pytest.raises(ComfyUIFileError, match="needs a backend's /object_info"):
        read_export(txt2img().workflow, None)


def test_an_api_prompt_is_used_as_it_is():
    prompt = txt2img().prompt
    assert read_export(prompt, None).prompt == prompt
    assert read_export({"prompt": prompt}, None).source == "api"
