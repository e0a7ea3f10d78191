"""ComfyUI's "Save" format → the API prompt its page queues.

The cases of ui_cases.py were checked against ComfyUI's real page (tests/contract/
test_real_frontend_conversion.py, `make test-comfyui`); here they run on the /object_info recorded from
ComfyUI 0.3.75, with no browser.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from comfyweb.comfy.workflow import (
    WorkflowConversionError,
    convert_workflow,
    is_api_prompt,
    is_ui_workflow,
    to_api_prompt,
)
from tests.comfy.workflow.ui_cases import INVERT_SCALE, Builder, all_cases, subgraphs, txt2img

RECORDED = json.loads((Path(__file__).resolve().parents[3] / "comfyweb/emulator/object_info.json").read_text())


@pytest.mark.parametrize("case", all_cases(), ids=lambda case: case.name)
def test_each_ui_feature_gives_the_prompt_comfyuis_page_queues(case):
    conversion = convert_workflow(case.workflow, RECORDED)
    # Compared as JSON text (keys sorted): 1 and 1.0 are different numbers in what is sent.
    assert json.dumps(conversion.prompt, sort_keys=True) == json.dumps(case.prompt, sort_keys=True)
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


def test_the_entry_point_for_a_comfyui_gives_the_prompt_and_the_warnings_to_pass_on():
    b = Builder()
    b.node(1, "LoadImage", ["a.png", "image"])
    b.node(2, "IPAdapterAdvanced", [1.0, "linear"], title="Face style")
    b.node(3, "SaveImage", ["x"])
    b.node(4, "WebcamCapture", ["", 512, 512, False])
    b.link(1, 0, 2, "image", "IMAGE")
    b.link(2, 0, 3, "images", "IMAGE")
    prompt, warnings = to_api_prompt(b.build(), RECORDED)
    assert prompt["3"]["inputs"]["images"] == ["2", 0]
    assert warnings[0] == "node 2 “Face style” (IPAdapterAdvanced): this ComfyUI has no such node class."
    assert any(w.startswith("node 4 (Webcam Capture): ComfyUI's page captures") for w in warnings)
    case = txt2img()
    assert to_api_prompt(case.workflow, RECORDED) == (convert_workflow(case.workflow, RECORDED).prompt, [])


def test_broken_links_and_other_files_are_refused_with_a_reason():
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
