"""Job errors: ComfyUI's answers become a code for visitors and a record for operators."""

from __future__ import annotations

import pytest
from django.utils import translation

from comfyweb.jobs.errors import (
    BAD_INPUT,
    EXECUTION,
    INVALID_VALUES,
    MISSING_MODEL,
    MISSING_NODE,
    NO_BACKEND,
    TIMEOUT,
    classify,
    error_record,
    operator_summary,
    visitor_error,
)
from tests.conftest import load_fixture


def recorded_validation(name: str) -> dict:
    body = load_fixture(f"comfyui/{name}.json")["post_body"]
    return {"error": body["error"], "node_errors": body["node_errors"]}


def recorded_execution_error() -> dict:
    messages = load_fixture("comfyui/execution_error.json")["messages"]
    data = next(m["data"] for m in messages if m["type"] == "execution_error")
    return {"type": "execution_error", **{k: v for k, v in data.items() if k != "prompt_id"}}


@pytest.mark.parametrize(
    ("error", "code", "node_class"),
    [
        (recorded_validation("validation_error"), INVALID_VALUES, "EmptyImage"),
        (recorded_validation("unknown_node"), MISSING_NODE, None),
        (recorded_validation("load_missing_file"), BAD_INPUT, "LoadImage"),
        (recorded_execution_error(), EXECUTION, "ImageToMask"),
    ],
    ids=["bad value", "unknown node", "missing photo", "a node raised"],
)
def test_recorded_comfyui_errors_get_their_code_and_node(error, code, node_class):
    record = classify(error)
    assert record["code"] == code and record["node_class"] == node_class
    assert record["message"], "ComfyUI's own words are kept for operators"


def test_a_missing_model_is_told_apart_from_a_bad_value():
    error = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
        "node_errors": {
            "4": {
                "class_type": "CheckpointLoaderSimple",
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": "ckpt_name: 'sd15.safetensors' not in ['tiny.safetensors']",
                        "extra_info": {"input_name": "ckpt_name"},
                    }
                ],
            }
        },
    }
    record = classify(error)
    assert record["code"] == MISSING_MODEL and record["node_id"] == "4"
    assert "tiny.safetensors" in record["detail"]


@pytest.mark.parametrize(
    ("agent_type", "code"), [("RequestParamsError", BAD_INPUT), ("ComfyUIUnavailableError", NO_BACKEND)]
)
def test_the_agents_error_types_map_to_codes(agent_type, code):
    assert classify({"type": agent_type, "message": "details"})["code"] == code


def test_the_agents_validation_answer_names_the_node():
    agent_frame_error = {"type": "CallComfyUIPromptError", **recorded_validation("validation_error")}
    record = classify(agent_frame_error)
    assert record["code"] == INVALID_VALUES and record["node_id"] == "1"


def test_visitors_read_a_sentence_in_their_language_and_no_technical_detail():
    record = error_record(TIMEOUT, message="ran longer than JOB_TIMEOUT (600 s)")
    with translation.override("en"):
        shown = visitor_error(record)
    assert shown == {"code": TIMEOUT, "message": shown["message"], "node_id": None, "node_class": None}
    assert "too long" in shown["message"] and "JOB_TIMEOUT" not in shown["message"]
    with translation.override("zh-hans"):
        assert visitor_error(record)["message"] != shown["message"]
    assert "JOB_TIMEOUT" in operator_summary(record)
