"""ComfyUI's old group nodes (`extra.groupNodes`) expanded as ComfyUI's own page expands them.

The prompts compared against were recorded from the page (front end 1.32.9 on ComfyUI 0.3.75) by
tests/contract/record_frontend_prompts.py, for ComfyUI's published examples that carry group nodes and for
workflows whose group nodes the page itself made; `make test-comfyui` checks them against the live page.
Here they run on the /object_info recorded from ComfyUI 0.3.75, with no browser.
"""

from __future__ import annotations

import copy
import json

import pytest

from comfyweb.comfy.workflow import WorkflowConversionError, convert_workflow
from tests.comfy.workflow.frontend_fixtures import (
    GROUP_NODES,
    RECORDED_OBJECT_INFO,
    as_sent,
    has_group_nodes,
    recorded_prompts,
    uses_group_nodes,
)
from tests.comfy.workflow.ui_cases import subgraphs

RECORDED = json.loads(RECORDED_OBJECT_INFO.read_text())
WITH_GROUP_NODES = [record for record in recorded_prompts() if has_group_nodes(record.workflow)]


def fixture(name: str) -> dict:
    return json.loads((GROUP_NODES / f"{name}.json").read_text())


def group_node(workflow: dict) -> dict:
    return next(node for node in workflow["nodes"] if node["type"].startswith("workflow>"))


def test_the_recorded_corpus_covers_examples_and_workflows_made_on_the_page():
    names = [record.name for record in WITH_GROUP_NODES]
    assert sum(name.startswith("comfyui_examples/") for name in names) == 11
    assert sum(name.startswith("group_nodes/") for name in names) == 9
    assert sum(uses_group_nodes(record.workflow) for record in WITH_GROUP_NODES) == 12
    assert {record.frontend for record in WITH_GROUP_NODES} == {"1.32.9"}


@pytest.mark.parametrize("record", WITH_GROUP_NODES, ids=lambda record: record.name)
def test_group_nodes_give_byte_for_byte_the_prompt_the_page_queued(record):
    prompt = convert_workflow(record.workflow, RECORDED).prompt
    assert as_sent(json.loads(json.dumps(prompt))) == as_sent(record.prompt)


def test_inner_nodes_take_the_instances_widget_values_and_ids_after_the_instance():
    prompt = convert_workflow(fixture("group_two_instances"), RECORDED).prompt
    samplers = {node_id: node for node_id, node in prompt.items() if node["class_type"] == "KSampler"}
    assert {node_id: (node["inputs"]["seed"], node["inputs"]["steps"]) for node_id, node in samplers.items()} == {
        "10:1": (42, 20),
        "11:1": (7, 9),
    }
    assert samplers["11:1"]["inputs"]["latent_image"] == ["11:0", 0]
    assert prompt["8"]["inputs"]["samples"] == ["10:1", 0]  # a root node reading the group's output


def test_the_old_separator_is_read_as_the_new_one():
    workflow = fixture("group_sampler")
    node = group_node(workflow)
    node["type"] = node["type"].replace("workflow>", "workflow/")
    assert as_sent(convert_workflow(workflow, RECORDED).prompt) == as_sent(
        convert_workflow(fixture("group_sampler"), RECORDED).prompt
    )


def test_definitions_no_node_uses_change_nothing():
    record = next(r for r in WITH_GROUP_NODES if r.name == "comfyui_examples/flux-flux_dev_example.json")
    assert not uses_group_nodes(record.workflow)
    without = copy.deepcopy(record.workflow)
    del without["extra"]["groupNodes"]
    conversion = convert_workflow(record.workflow, RECORDED)
    assert as_sent(conversion.prompt) == as_sent(convert_workflow(without, RECORDED).prompt)
    assert not [w for w in conversion.warnings if "group node" in w]


def test_the_operator_is_told_what_the_page_does_with_group_nodes():
    warnings = convert_workflow(fixture("group_chained"), RECORDED).warnings
    assert "node 10 (Prompts) is one of ComfyUI's old group nodes (workflow>Prompts)" in warnings[0]
    assert any(
        w.startswith(
            "node 11:1 (KSampler): input positive is left unconnected, as ComfyUI's page leaves it: "
            "it comes from node 10, which is not in the prompt"
        )
        for w in warnings
    )


def test_a_group_whose_inner_class_is_missing_reports_it():
    workflow = fixture("group_sampler")
    name = next(iter(workflow["extra"]["groupNodes"]))
    workflow["extra"]["groupNodes"][name]["nodes"][1]["type"] = "KSamplerFromSomePack"
    conversion = convert_workflow(workflow, RECORDED)
    assert [str(m) for m in conversion.missing] == [
        f"node 10 “{name}” (KSamplerFromSomePack) in group node workflow>{name}"
    ]


def test_a_group_node_inside_a_subgraph_is_refused_as_the_page_refuses_it():
    workflow = subgraphs().workflow
    group = fixture("group_sampler")
    workflow["extra"]["groupNodes"] = group["extra"]["groupNodes"]
    inner = copy.deepcopy(group_node(group))
    inner.update(id=9, inputs=[], outputs=[])
    workflow["definitions"]["subgraphs"][0]["nodes"].append(inner)
    with pytest.raises(WorkflowConversionError, match="old group nodes inside a subgraph"):
        convert_workflow(workflow, RECORDED)


def test_a_group_node_counts_in_the_canvas_groups_by_its_inner_nodes():
    workflow = fixture("group_sampler")
    group_node(workflow)["pos"] = [2000, 2000]
    workflow["groups"] = [{"id": 1, "title": "Sampling", "bounding": [1990, 1990, 50, 50], "flags": {}}]
    groups = convert_workflow(workflow, RECORDED).groups
    assert [(g.title, sorted(g.node_ids)) for g in groups] == [("Sampling", ["10:0", "10:1"])]
