"""Proposed visitor fields: each rule of catalog.proposals, and that accepting them gives a valid template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.utils import translation

from comfyweb.catalog.forms import build_template_form
from comfyweb.catalog.object_info_check import check_against_object_info
from comfyweb.catalog.params import iter_panels, validate_template
from comfyweb.catalog.proposals import build_params, propose_params, unexposed_images
from comfyweb.comfy.workflow import convert_workflow
from tests.catalog.conftest import draft
from tests.comfy.workflow.ui_cases import muted_and_bypassed, txt2img

RECORDED = json.loads((Path(__file__).resolve().parents[2] / "comfyweb/emulator/object_info.json").read_text())


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def proposals_for(case):
    conversion = convert_workflow(case.workflow, RECORDED)
    return conversion.prompt, propose_params(conversion.prompt, RECORDED, conversion.groups)


def by_target(proposals) -> dict:
    return {(p.panel["id"], p.panel["key"]): p for p in proposals}


def test_a_txt2img_workflow_gets_the_fields_a_visitor_page_needs():
    _prompt, proposals = proposals_for(txt2img())
    found = by_target(proposals)
    positive, negative = found[("6", "text")], found[("7", "text")]
    assert positive.recommended and positive.panel == {"id": "6", "type": "string", "key": "text", "title": "Positive"}
    assert "describes the picture" in positive.reason
    assert not negative.recommended and "negative prompt" in negative.reason
    seed = found[("3", "seed")]
    assert seed.recommended and seed.panel["hidden"] and seed.prompt_value == -1
    width = found[("5", "width")]
    assert width.panel["type"] == "select" and 512 in width.panel["options"] and 1024 in width.panel["options"]
    assert width.panel["labels"][width.panel["options"].index(512)] == "512 px"
    checkpoint = found[("4", "ckpt_name")]
    assert not checkpoint.recommended and checkpoint.panel["options"] == "CheckpointLoaderSimple"
    for key in ("sampler_name", "scheduler"):
        assert found[("3", key)].panel["options"] == "KSampler" and not found[("3", key)].recommended
    steps, cfg, denoise = found[("3", "steps")], found[("3", "cfg")], found[("3", "denoise")]
    assert (steps.panel["min"], steps.panel["max"], steps.panel["step"]) == (1, 10000, 1)
    assert (cfg.panel["min"], cfg.panel["max"], cfg.panel["step"]) == (0.0, 100.0, 0.1)
    assert denoise.panel["max"] == 1.0 and not denoise.recommended
    # ComfyUI groups become steps, in the workflow's order; ungrouped fields come first.
    assert [p.group for p in proposals if p.recommended] == [None, "Describe the picture", "Size", "Size"]


def test_groups_inside_a_group_become_steps_inside_its_step():
    case = txt2img()
    # One box around both groups (drawn last, as ComfyUI keeps them in drawing order), and a lone field in it.
    case.workflow["groups"].append({"id": 3, "title": "Your picture", "bounding": [360, -60, 440, 840], "flags": {}})
    prompt, proposals = proposals_for(case)
    assert {p.group for p in proposals if p.panel["id"] in ("6", "5")} == {"Describe the picture", "Size"}
    new_prompt, params = build_params(prompt, proposals)
    assert [p.get("title") for p in params] == ["Seed", "Your picture"]
    outer = params[1]
    assert [c["title"] for c in outer["children"]] == ["Describe the picture", "Size"]
    assert [c["title"] for c in outer["children"][1]["children"]] == ["Width", "Height"]
    assert validate_template(new_prompt, params) == [], "nested groups are valid params"
    form = build_template_form(draft(new_prompt, params))
    assert {"6.text", "5.width", "5.height"} <= set(form.fields)


def test_accepted_proposals_make_a_valid_template_and_the_prompt_they_need():
    prompt, proposals = proposals_for(txt2img())
    new_prompt, params = build_params(prompt, proposals)
    assert validate_template(new_prompt, params) == []
    assert new_prompt["3"]["inputs"]["seed"] == -1 and prompt["3"]["inputs"]["seed"] == 42
    assert [p.get("title") for p in params] == ["Seed", "Describe the picture", "Size"]
    assert [c["title"] for c in params[2]["children"]] == ["Width", "Height"]
    # Accepting everything is valid too.
    everything_prompt, everything = build_params(prompt, proposals, accepted=range(len(proposals)))
    assert validate_template(everything_prompt, everything) == []
    # The backend check only misses the export's model (seed -1 is fine): the recorded ComfyUI has none.
    problems = check_against_object_info(everything_prompt, RECORDED, everything)
    assert problems == [
        "4 “Load Checkpoint” (CheckpointLoaderSimple): ckpt_name='sd15.safetensors' is not offered by this backend "
        "(missing model or bad name?).",
        "4 “Load Checkpoint” (CheckpointLoaderSimple): the choices of ckpt_name come from "
        "CheckpointLoaderSimple.ckpt_name, and this backend has none installed.",
    ]


def test_a_load_image_becomes_a_required_picture_without_the_exports_file_name():
    prompt, proposals = proposals_for(muted_and_bypassed())
    image = by_target(proposals)[("1", "image")]
    assert image.recommended and image.panel["type"] == "image" and image.prompt_value == ""
    assert "“photo.png” is not kept" in image.reason
    new_prompt, params = build_params(prompt, proposals)
    assert new_prompt["1"]["inputs"]["image"] == ""
    form = build_template_form(draft(new_prompt, params))
    assert form.fields["1.image"].required
    assert unexposed_images(new_prompt, params) == []


def test_a_load_image_that_is_not_exposed_is_flagged():
    prompt, proposals = proposals_for(muted_and_bypassed())
    without_image = [i for i, p in enumerate(proposals) if p.kind != "image"]
    new_prompt, params = build_params(prompt, proposals, accepted=without_image)
    [flag] = unexposed_images(new_prompt, params)
    assert flag.startswith("node 1 “Load Image” (LoadImage) always loads “photo.png”")
    # URLs, data URLs and this site's pictures are fetched at run time: not flagged.
    new_prompt["1"]["inputs"]["image"] = "/static/workflows/couple-mask.png"
    assert unexposed_images(new_prompt, params) == []


def test_polarity_comes_from_titles_or_from_where_the_text_ends_up():
    prompt = {
        "1": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["9", 1]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "dog", "clip": ["9", 1]}, "_meta": {"title": "负面"}},
        "3": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["1", 0], "guidance": 3.5}},
        "4": {"class_type": "BasicGuider", "inputs": {"model": ["9", 0], "conditioning": ["3", 0]}},
        "5": {"class_type": "StringConcatenate", "inputs": {"string_a": "x", "string_b": "y", "delimiter": ""}},
        "9": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
    }
    found = by_target(propose_params(prompt, RECORDED))
    assert found[("1", "text")].recommended and found[("1", "text")].panel["title"] == "Prompt"
    assert not found[("2", "text")].recommended and found[("2", "text")].panel["title"] == "负面"
    assert not found[("5", "string_a")].recommended


def test_alike_titles_are_numbered_and_renamed_nodes_lend_their_titles():
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "b.png"}},
        "3": {"class_type": "LoadImage", "inputs": {"image": "c.png"}, "_meta": {"title": "Background"}},
        "4": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 640, "height": 640, "batch_size": 1},
            "_meta": {"title": "Canvas"},
        },
    }
    titles = [p.panel["title"] for p in propose_params(prompt, RECORDED)]
    assert titles == ["Photo 1", "Photo 2", "Background", "Canvas: Width", "Canvas: Height"]
    assert all(isinstance(p.as_dict()["reason"], str) for p in propose_params(prompt, RECORDED))


def test_every_proposed_panel_has_a_target_in_the_prompt():
    prompt, proposals = proposals_for(txt2img())
    _prompt, params = build_params(prompt, proposals, accepted=range(len(proposals)))
    assert {(p["id"], p["key"]) for p in iter_panels(params)} == {p.target for p in proposals}
