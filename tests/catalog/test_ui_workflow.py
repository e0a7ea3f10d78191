"""ComfyUI's "Save" format → the API prompt its page queues, and reading PNG/WebP files ComfyUI saved.

The cases of ui_cases.py were checked against ComfyUI's real page (tests/contract/
test_real_frontend_conversion.py, `make test-comfyui`); here they run on the /object_info recorded from
ComfyUI 0.3.75, with no browser.
"""

from __future__ import annotations

import copy
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
from comfyweb.catalog.ui_workflow import (
    WorkflowConversionError,
    build_layout,
    convert_workflow,
    is_api_prompt,
    is_ui_workflow,
    js_to_fixed,
    process_dynamic_prompt,
)
from tests.catalog.ui_cases import INVERT_SCALE, Builder, all_cases, subgraphs, txt2img

RECORDED = json.loads((Path(__file__).resolve().parents[2] / "comfyweb/emulator/object_info.json").read_text())


@pytest.mark.parametrize("case", all_cases(), ids=lambda case: case.name)
def test_each_ui_feature_gives_the_prompt_comfyuis_page_queues(case):
    conversion = convert_workflow(case.workflow, RECORDED)
    assert json.loads(json.dumps(conversion.prompt)) == case.prompt
    assert {g.title: sorted(g.node_ids) for g in conversion.groups} == {
        title: sorted(ids) for title, ids in case.groups.items()
    }
    assert conversion.missing == []


def test_the_workflow_given_is_not_changed():
    case = txt2img()
    before = copy.deepcopy(case.workflow)
    convert_workflow(case.workflow, RECORDED)
    assert case.workflow == before


def test_formats_are_told_apart():
    case = txt2img()
    assert is_ui_workflow(case.workflow) and not is_api_prompt(case.workflow)
    assert is_api_prompt(case.prompt) and not is_ui_workflow(case.prompt)
    assert is_comfyui_export(case.workflow) and is_comfyui_export({"prompt": case.prompt})
    assert not is_comfyui_export([{"title": "t", "prompt": case.prompt}])
    assert not is_comfyui_export({"title": "t", "prompt": case.prompt})


def test_the_seed_widget_is_followed_by_its_control_after_generate_slot():
    layout = build_layout("KSampler", RECORDED["KSampler"])
    names = [(w.name, w.in_prompt, w.has_slot) for w in layout.widgets]
    assert names[:3] == [("seed", True, True), ("control_after_generate", False, True), ("steps", True, True)]
    upload = build_layout("LoadImage", RECORDED["LoadImage"]).widgets
    assert [(w.name, w.in_prompt) for w in upload] == [("image", True), ("upload", False)]


def test_dynamic_prompts_lose_comments_and_take_a_choice():
    text = "a {red|{dark|light} blue} car // a comment\n/* gone */in \\{braces\\}"
    assert process_dynamic_prompt(text, lambda: 0.0) == "a red car \nin {braces}"
    assert process_dynamic_prompt(text, lambda: 0.99) == "a light blue car \nin {braces}"
    assert process_dynamic_prompt("see http://example.com", lambda: 0.0) == "see http:"


def test_to_fixed_rounds_the_exact_binary_value_half_away_from_zero():
    assert js_to_fixed(7.55, 1) == 7.5  # 7.5499999… in binary
    assert js_to_fixed(0.125, 2) == 0.13  # exactly representable: half goes up
    assert js_to_fixed(-0.125, 2) == -0.13


def test_classes_the_backend_lacks_are_reported_with_their_titles():
    b = Builder()
    b.node(1, "LoadImage", ["a.png", "image"])
    b.node(2, "IPAdapterAdvanced", [1.0, "linear"], title="Face style")
    b.node(3, "SaveImage", ["x"])
    b.link(1, 0, 2, "image", "IMAGE")
    b.link(2, 0, 3, "images", "IMAGE")
    conversion = convert_workflow(b.build(), RECORDED)
    assert [str(m) for m in conversion.missing] == ["node 2 “Face style” (IPAdapterAdvanced)"]
    # The node stays in the prompt (with its links), so the backend check names it too.
    assert conversion.prompt["2"]["class_type"] == "IPAdapterAdvanced"
    assert conversion.prompt["3"]["inputs"]["images"] == ["2", 0]


def test_old_group_nodes_and_broken_links_are_refused_with_a_reason():
    workflow = txt2img().workflow
    workflow["extra"]["groupNodes"] = {"my group": {}}
    with pytest.raises(WorkflowConversionError, match="group nodes"):
        convert_workflow(workflow, RECORDED)
    workflow = txt2img().workflow
    workflow["links"] = [link for link in workflow["links"] if link[0] != 1]  # node 3's model link
    with pytest.raises(WorkflowConversionError, match=r"node 3 \(KSampler\): its input model points at link 1"):
        convert_workflow(workflow, RECORDED)
    with pytest.raises(WorkflowConversionError, match="not a ComfyUI workflow"):
        convert_workflow({"nodes": "x"}, RECORDED)


def test_each_subgraph_instance_keeps_its_own_promoted_values():
    case = subgraphs()
    workflow = case.workflow
    small = next(n for n in workflow["nodes"] if n["id"] == 7)
    small["widgets_values"] = [999]
    prompt = convert_workflow(workflow, RECORDED).prompt
    assert prompt["5:2"]["inputs"]["width"] == 512 and prompt["7:2"]["inputs"]["width"] == 999
    definition = workflow["definitions"]["subgraphs"][0]
    assert definition["id"] == INVERT_SCALE and definition["nodes"][1]["widgets_values"][1] == 64


def test_a_workflow_saved_by_a_newer_comfyui_drops_inputs_this_backend_lacks():
    b = Builder()
    b.node(1, "ImageScale", ["bilinear", 64, 64, "center"])
    b.node(2, "PrimitiveNode", ["lanczos"])
    b.node(3, "PreviewImage")
    b.link(2, 0, 1, "antialias", "COMBO", widget=True)
    b.link(1, 0, 3, "images", "IMAGE")
    conversion = convert_workflow(b.build(), RECORDED)
    assert "antialias" not in conversion.prompt["1"]["inputs"]
    assert any("antialias is unknown to this backend" in w for w in conversion.warnings)


def picture() -> Image.Image:
    return Image.new("RGB", (16, 16), (200, 90, 40))


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
