"""Every DESIGN.md rule for templates, each with a failing example; problems name the panel and reason."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import TemplateProblem, field_name, iter_panels, validate_template
from tests.catalog.conftest import shipped_templates


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def reasons(problems: list[TemplateProblem]) -> list[str]:
    return [str(p) for p in problems]


def test_the_seed_templates_with_the_seed_prompt_are_valid(couple_template, background_template):
    assert validate_template(couple_template["prompt"], couple_template["params"]) == []
    assert validate_template(background_template["prompt"], background_template["params"]) == []


@pytest.mark.parametrize("entry", shipped_templates(), ids=lambda e: e["slug"])
def test_every_shipped_template_is_valid(entry):
    assert validate_template(entry["prompt"], entry["params"]) == []


def test_the_seed_sample_alone_is_refused_because_its_prompt_is_empty(templates_sample):
    problems = validate_template(templates_sample[0]["prompt"], templates_sample[0]["params"])
    assert [(p.panel, p.field) for p in problems] == [("prompt", "prompt")]
    assert "non-empty JSON object" in problems[0].reason


def test_a_panel_whose_node_is_not_in_the_prompt_is_named(couple_template):
    couple_template["params"][1]["id"] = "99"
    [problem] = validate_template(couple_template["prompt"], couple_template["params"])
    assert problem.panel == "#4 STEP 2 - 选择角色 (image 99.image)"
    assert problem.reason == "node 99 is not in the prompt."
    assert problem.field == "params"


def test_a_panel_whose_key_is_not_an_input_of_the_node(couple_template):
    couple_template["params"][0]["children"][1]["key"] = "txt"
    [problem] = validate_template(couple_template["prompt"], couple_template["params"])
    assert "参考形象描述" in problem.panel and "24.txt" in problem.panel
    assert problem.reason == "node 24 (CLIPTextEncode) has no input txt."


def test_a_panel_may_not_edit_a_link(couple_template):
    couple_template["params"].append({"type": "number", "id": "3", "key": "model", "title": "Model"})
    problems = validate_template(couple_template["prompt"], couple_template["params"])
    assert "input model is a link to another node, not a value." in reasons(problems)[0]


def test_a_link_to_a_missing_node_breaks_the_graph(couple_template):
    couple_template["prompt"]["3"]["inputs"]["model"] = ["404", 0]
    problems = validate_template(couple_template["prompt"], couple_template["params"])
    assert reasons(problems) == ["node 3: input model links to node 404, which is not in the prompt."]
    assert problems[0].field == "prompt"


def test_a_node_without_class_type_is_refused(couple_template):
    del couple_template["prompt"]["9"]["class_type"]
    problems = validate_template(couple_template["prompt"], couple_template["params"])
    assert reasons(problems) == ["node 9: is not a node: it needs a class_type (API format export)."]


def test_inputs_must_be_an_object(couple_template):
    couple_template["prompt"]["9"]["inputs"] = ["images"]
    assert reasons(validate_template(couple_template["prompt"], couple_template["params"])) == [
        "node 9: its inputs must be a JSON object."
    ]


def test_the_ui_workflow_format_gets_a_hint_to_use_save_api():
    ui_export = {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []}
    [problem] = validate_template(ui_export, [])
    assert "Save (API)" in problem.reason


@pytest.mark.parametrize("prompt", [None, [], {}, "text"])
def test_the_prompt_must_be_a_non_empty_object(prompt):
    assert [p.panel for p in validate_template(prompt, [])] == ["prompt"]


def test_params_must_be_a_list(core_prompt):
    assert reasons(validate_template(core_prompt, {"type": "image"})) == [
        "params: params must be a JSON list of panels."
    ]


def test_a_panel_must_be_an_object(core_prompt):
    assert reasons(validate_template(core_prompt, ["image"])) == ["#1: a panel must be a JSON object."]


def test_unknown_panel_type(core_prompt):
    [problem] = validate_template(core_prompt, [{"type": "slider", "id": "4", "key": "blend_factor", "title": "S"}])
    assert problem.panel == "#1 S (slider 4.blend_factor)"
    assert "unknown type 'slider'" in problem.reason


def test_id_and_key_are_required(core_prompt):
    problems = validate_template(core_prompt, [{"type": "string", "key": "filename_prefix"}])
    assert "id (a node id of the prompt) and key (an input name) are required." in reasons(problems)[0]


def test_an_integer_node_id_is_accepted(core_prompt):
    assert validate_template(core_prompt, [{"type": "string", "id": 5, "key": "filename_prefix"}]) == []


def test_two_panels_may_not_edit_the_same_input(core_prompt):
    panel = {"type": "string", "id": "5", "key": "filename_prefix", "title": "Prefix"}
    problems = validate_template(core_prompt, [panel, {**panel, "title": "Again"}])
    assert reasons(problems) == ["#2 Again (string 5.filename_prefix): another panel already edits 5.filename_prefix."]


def test_a_group_needs_children(core_prompt):
    for children in (None, [], "1.image"):
        problems = validate_template(core_prompt, [{"type": "group", "title": "Step", "children": children}])
        assert reasons(problems) == ["#1 Step (group): a group needs a non-empty children list."]


def test_children_of_groups_are_checked_and_numbered_in_order(core_prompt, core_params):
    core_params[1]["children"][0]["options"] = []
    [problem] = validate_template(core_prompt, core_params)
    assert problem.panel == "#3 Mode (select 4.blend_mode)"
    assert problem.reason == "a select needs a non-empty options list or source."


def test_select_needs_options(core_prompt):
    for options in (None, [], ""):
        panel = {"type": "select", "id": "4", "key": "blend_mode", "options": options}
        assert (
            "a select needs a non-empty options list or source." in reasons(validate_template(core_prompt, [panel]))[0]
        )


def test_select_options_are_texts_or_numbers_without_repeats(core_prompt):
    panel = {"type": "select", "id": "4", "key": "blend_mode", "options": [{"a": 1}]}
    assert "texts or numbers" in reasons(validate_template(core_prompt, [panel]))[0]
    panel["options"] = ["screen", "screen"]
    assert "must not repeat" in reasons(validate_template(core_prompt, [panel]))[0]


def test_select_options_may_name_a_source_node_class(core_prompt):
    panel = {"type": "select", "id": "4", "key": "blend_mode", "options": "ImageBlend"}
    assert validate_template(core_prompt, [panel]) == []


def test_options_of_another_json_type_are_refused(core_prompt):
    panel = {"type": "select", "id": "4", "key": "blend_mode", "options": {"multiply": 1}}
    assert (
        "options must be a list, or a node class name as a source."
        in reasons(validate_template(core_prompt, [panel]))[0]
    )


def test_number_bounds_must_be_ordered_numbers_with_a_positive_step(core_prompt):
    base = {"type": "number", "id": "4", "key": "blend_factor"}
    assert "min is greater than max." in reasons(validate_template(core_prompt, [{**base, "min": 1, "max": 0}]))[0]
    assert "step must be positive." in reasons(validate_template(core_prompt, [{**base, "step": 0}]))[0]
    assert "min must be a number." in reasons(validate_template(core_prompt, [{**base, "min": "0"}]))[0]
    assert "max must be a number." in reasons(validate_template(core_prompt, [{**base, "max": True}]))[0]


def test_a_number_panel_needs_a_number_in_the_prompt(core_prompt):
    panel = {"type": "number", "id": "4", "key": "blend_mode"}
    assert "the prompt's value is not a number." in reasons(validate_template(core_prompt, [panel]))[0]


def test_the_prompt_number_must_fit_the_panel_bounds_and_grid(core_prompt):
    panel = {"type": "number", "id": "4", "key": "blend_factor", "min": 0.6, "max": 1}
    [reason] = reasons(validate_template(core_prompt, [panel]))
    assert "the prompt's value 0.5 is below the minimum 0.6" in reason and "min…max" not in reason
    panel = {"type": "number", "id": "4", "key": "blend_factor", "min": 0, "max": 0.4}
    assert "0.5 is above the maximum 0.4" in reasons(validate_template(core_prompt, [panel]))[0]
    panel = {"type": "number", "id": "2", "key": "width", "min": 0, "max": 1000, "step": 100}
    assert "not on the step grid" in reasons(validate_template(core_prompt, [panel]))[0]


def test_a_random_seed_below_the_minimum_says_what_minus_one_means_and_how_to_fix_it():
    prompt = {"3": {"class_type": "KSampler", "inputs": {"seed": -1, "steps": 20}}}
    panel = {"type": "number", "id": "3", "key": "seed", "title": "Seed", "min": 0, "max": 2**32}
    [reason] = reasons(validate_template(prompt, [panel]))
    assert "min…max" not in reason
    assert "-1, which means a new random seed for each picture" in reason
    assert "Set the minimum to -1 (or leave it empty)" in reason


def test_a_string_panel_needs_text_in_the_prompt(core_prompt):
    panel = {"type": "string", "id": "2", "key": "width"}
    assert "the prompt's value is not text." in reasons(validate_template(core_prompt, [panel]))[0]


def test_image_panels_need_text_in_the_prompt_and_url_options(core_prompt):
    assert (
        "not an image name or URL"
        in reasons(validate_template(core_prompt, [{"type": "image", "id": "2", "key": "width"}]))[0]
    )
    panel = {"type": "image", "id": "1", "key": "image", "options": ["/static/a.png", ""]}
    assert "image options must be image URLs." in reasons(validate_template(core_prompt, [panel]))[0]
    panel["options"] = "LoadImage"
    assert "image options must be a list of image URLs." in reasons(validate_template(core_prompt, [panel]))[0]


def test_an_image_panel_without_options_is_fine_because_visitors_upload(core_prompt):
    assert validate_template(core_prompt, [{"type": "image", "id": "1", "key": "image"}]) == []


def test_iter_panels_flattens_groups_in_display_order(couple_template):
    names = [field_name(p) for p in iter_panels(couple_template["params"])]
    assert names == ["10.image", "24.text", "11.image", "12.image"]


def test_the_model_refuses_invalid_templates_with_errors_by_field(db, couple_template):
    broken = copy.deepcopy(couple_template)
    broken["params"][1]["id"] = "99"
    broken["prompt"]["3"]["inputs"]["model"] = ["404", 0]
    template = WorkflowTemplate(title="x", slug="x", prompt=broken["prompt"], params=broken["params"])
    with pytest.raises(ValidationError) as refused:
        template.full_clean()
    assert refused.value.message_dict == {
        "prompt": ["node 3: input model links to node 404, which is not in the prompt."]
    }
    template.prompt = couple_template["prompt"]
    with pytest.raises(ValidationError) as refused:
        template.full_clean()
    assert list(refused.value.message_dict) == ["params"]
    template.params = couple_template["params"]
    template.full_clean()


def test_a_new_version_only_when_what_runs_changes(db, couple_template):
    template = WorkflowTemplate.objects.create(
        title="t", slug="t", prompt=couple_template["prompt"], params=couple_template["params"]
    )
    template.description = "new words"
    template.save()
    assert template.version == 1
    template.params = couple_template["params"][:1]
    template.save()
    assert WorkflowTemplate.objects.get(pk=template.pk).version == 2


def test_select_labels_must_pair_with_the_options(core_prompt):
    panel = {"type": "select", "id": "4", "key": "blend_mode", "options": ["multiply", "screen"]}
    assert validate_template(core_prompt, [{**panel, "labels": ["正片叠底", "滤色"]}]) == []
    for labels in (["only one"], "正片叠底", [1, 2]):
        problems = validate_template(core_prompt, [{**panel, "labels": labels}])
        assert reasons(problems) == ["#1 (select 4.blend_mode): labels must be a list of texts, one per option."]


def test_a_panel_key_that_is_not_text_is_a_problem_not_a_crash(couple_photo_prompt):
    for prompt in ({}, couple_photo_prompt):
        problems = validate_template(prompt, [{"type": "image", "id": "10", "key": []}])
        assert any("key" in problem.reason for problem in problems)


@pytest.mark.parametrize(
    ("key", "options", "reason"),
    [
        ("width", ["256", "512"], "the prompt's value is a number: the options must be numbers too."),
        ("blend_mode", ["multiply", 2], "the prompt's value is text: the options must be texts too."),
        ("blend_mode", ["screen", "overlay"], 'the prompt\'s value "multiply" is not one of the options.'),
        ("width", [128, 512], "the prompt's value 256 is not one of the options."),
    ],
)
def test_select_options_keep_the_prompt_values_type_and_include_it(core_prompt, key, options, reason):
    node = "3" if key == "width" else "4"
    panel = {"type": "select", "id": node, "key": key, "title": "S", "options": options}
    with translation.override("en"):
        assert reasons(validate_template(core_prompt, [panel])) == [f"#1 S (select {node}.{key}): {reason}"]


def test_numeric_select_options_may_mix_ints_and_floats(core_prompt):
    panel = {"type": "select", "id": "4", "key": "blend_factor", "title": "S", "options": [0.25, 0.5, 1]}
    assert validate_template(core_prompt, [panel]) == []
