"""Numbers in the prompt in the form ComfyUI's page sends them: JSON.stringify writes an integral float as an
integer and a large integer in JavaScript's digits, and a prompt's keys keep a JavaScript object's order.

The recorded prompts are those of ComfyUI's published examples whose FLOAT defaults (1.0 in /object_info)
the page sends as `1` (tests/contract/record_frontend_prompts.py).
"""

from __future__ import annotations

import json
import math

import pytest

from comfyweb.comfy.workflow import convert_workflow
from comfyweb.comfy.workflow.js_values import js_json_value, js_object_order
from tests.comfy.workflow.frontend_fixtures import RECORDED_OBJECT_INFO, as_sent, has_group_nodes, recorded_prompts
from tests.comfy.workflow.ui_cases import number_forms

RECORDED = json.loads(RECORDED_OBJECT_INFO.read_text())
NUMBER_FORMS = [record for record in recorded_prompts() if not has_group_nodes(record.workflow)]


def test_there_are_recorded_number_forms():
    assert len(NUMBER_FORMS) == 3


@pytest.mark.parametrize("record", NUMBER_FORMS, ids=lambda record: record.name)
def test_float_defaults_go_out_as_the_page_sends_them(record):
    prompt = json.loads(json.dumps(convert_workflow(record.workflow, RECORDED).prompt))
    assert as_sent(prompt) == as_sent(record.prompt)
    sent = json.dumps(prompt)
    assert not any(isinstance(v, float) and v.is_integer() for node in prompt.values() for v in node["inputs"].values())
    assert sent == json.dumps(record.prompt)


def test_saved_floats_and_large_integers_are_written_as_javascript_writes_them():
    case = number_forms()
    prompt = convert_workflow(case.workflow, RECORDED).prompt
    assert json.dumps(prompt, sort_keys=True) == json.dumps(case.prompt, sort_keys=True)
    assert '"cfg": 8,' in json.dumps(prompt) and '"seed": 1152921504606847000,' in json.dumps(prompt)


def test_json_values_follow_json_stringify():
    assert js_json_value([1.0, -0.0, 0.5, 1e16, 2**60 + 1, math.nan, math.inf, True, "1.0"]) == [
        1,
        0,
        0.5,
        10000000000000000,
        1152921504606847000,
        None,
        None,
        True,
        "1.0",
    ]
    assert json.dumps(js_json_value({"a": {"b": [2.0, 1e21]}})) == '{"a": {"b": [2, 1e+21]}}'


def test_object_keys_keep_javascripts_order():
    ordered = js_object_order({"5:1": 0, "10": 0, "b": 0, "2": 0, "07": 0, "4294967295": 0, "3": 0})
    assert list(ordered) == ["2", "3", "10", "5:1", "b", "07", "4294967295"]
