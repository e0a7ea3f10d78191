"""Folding recorded ComfyUI messages into the seed's progress object."""

from __future__ import annotations

import copy

import pytest

from comfyweb.comfy.progress import (
    current_node,
    fold_history,
    fold_message,
    new_progress,
    node_weight,
    output_images,
    overall_fraction,
)
from tests.conftest import load_fixture


def replay(name: str) -> tuple[dict, dict]:
    """Fold a transcript's messages for its prompt; returns (progress, transcript)."""
    recorded = load_fixture(f"comfyui/{name}")
    prompt_id = recorded["post_body"]["prompt_id"]
    progress = new_progress(recorded["workflow"], prompt_id)
    for message in recorded["messages"]:
        data = message.get("data") or {}
        if "binary" in message or data.get("prompt_id", prompt_id) != prompt_id:
            continue
        fold_message(progress, message, now=100)
    return progress, recorded


def test_new_progress_has_the_seed_shape_for_every_node(couple_photo_prompt, progress_sample):
    progress = new_progress(couple_photo_prompt, "p1")
    assert set(progress) == set(couple_photo_prompt) | {""}
    assert progress["10"] == {"max": 0, "value": 0, "start": 0, "last_updated": 0, "images": None}
    assert set(progress_sample["3"]) <= set(progress["3"])
    assert progress[""]["status"] == "queued" and progress[""]["prompt_id"] == "p1"


def test_success_transcript_ends_succeeded_with_the_saved_image():
    progress, recorded = replay("success_core.json")
    assert progress[""]["status"] == "succeeded"
    saved = recorded["history"][recorded["post_body"]["prompt_id"]]["outputs"]["3"]["images"]
    assert output_images(progress) == [{"node": "3", **saved[0]}]
    assert all(progress[node]["value"] == progress[node]["max"] == 1 for node in recorded["workflow"])
    assert overall_fraction(progress, recorded["workflow"]) == 1.0


def test_cached_rerun_marks_every_node_finished():
    progress, recorded = replay("cached_rerun.json")
    assert progress[""]["status"] == "succeeded"
    assert all(progress[node]["value"] == 1 for node in recorded["workflow"])
    assert output_images(progress), "a cached SaveImage still reports its files in `executed`"


def test_execution_error_keeps_comfyuis_details():
    progress, _recorded = replay("execution_error.json")
    error = progress[""]["error"]
    assert progress[""]["status"] == "failed"
    assert error["type"] == "execution_error"
    assert error["node_type"] == "ImageToMask"
    assert error["exception_message"] and error["message"] == error["exception_message"]
    assert "traceback" in error


def test_interrupt_is_cancelled_not_failed():
    progress, _ = replay("interrupt.json")
    assert progress[""]["status"] == "cancelled"
    assert progress[""]["error"]["type"] == "execution_interrupted"


def test_the_closing_executing_does_not_turn_an_error_into_success():
    progress = new_progress({"1": {}}, "p")
    fold_message(progress, {"type": "execution_error", "data": {"prompt_id": "p", "node_id": "1"}})
    fold_message(progress, {"type": "executing", "data": {"node": None, "prompt_id": "p"}})
    assert progress[""]["status"] == "failed"


def test_sampler_steps_and_the_running_node():
    prompt = {"3": {"class_type": "KSampler", "_meta": {"title": "KSampler"}, "inputs": {"steps": 17}},
              "9": {"class_type": "SaveImage", "inputs": {}}}  # fmt: skip
    progress = new_progress(prompt, "p")
    fold_message(progress, {"type": "execution_start", "data": {"prompt_id": "p"}})
    fold_message(progress, {"type": "executing", "data": {"node": "3", "prompt_id": "p"}})
    fold_message(progress, {"type": "progress", "data": {"value": 7, "max": 17, "node": "3", "prompt_id": "p"}})
    assert current_node(progress, prompt) == {"node": "3", "title": "KSampler", "class_type": "KSampler",
                                              "value": 7, "max": 17}  # fmt: skip
    assert overall_fraction(progress, prompt) == pytest.approx(7 / 18), "a sampler weighs its steps"
    fold_message(progress, {"type": "executing", "data": {"node": "9", "prompt_id": "p"}})
    assert progress["3"]["value"] == progress["3"]["max"] == 17
    assert overall_fraction(progress, prompt) == pytest.approx(17 / 18)


def test_real_ksampler_transcript_reports_every_step():
    recorded = load_fixture("comfyui/v0.3.64/10_ksampler_random_sd15.json")
    progress = new_progress({}, "")
    steps = []
    for event in recorded["events"]:
        message = event.get("ws_recv")
        if message and message.get("type") != "status":
            fold_message(progress, message)
            if message["type"] == "progress":
                steps.append(progress["3"]["value"])
    assert steps == [1, 2, 3, 4]
    assert progress[""]["status"] == "succeeded"
    assert output_images(progress)[0]["node"] == "9"


def test_progress_state_floats_become_the_seeds_integers():
    progress = new_progress({"4": {}}, "p")
    state = {"4": {"value": 1.0, "max": 1.0, "state": "finished"}}
    assert fold_message(progress, {"type": "progress_state", "data": {"prompt_id": "p", "nodes": state}})
    assert progress["4"]["value"] == 1 and isinstance(progress["4"]["value"], int)
    assert not fold_message(progress, {"type": "progress_state", "data": {"prompt_id": "p", "nodes": state}})


def test_unknown_messages_are_ignored():
    progress = new_progress({"1": {}}, "p")
    before = copy.deepcopy(progress)
    assert not fold_message(progress, {"type": "some_future_event", "data": {"prompt_id": "p"}})
    assert progress == before


@pytest.mark.parametrize("name", ["success_core.json", "execution_error.json", "interrupt.json"])
def test_history_alone_gives_the_same_outcome_as_the_messages(name):
    from_messages, recorded = replay(name)
    prompt_id = recorded["post_body"]["prompt_id"]
    from_history = new_progress(recorded["workflow"], prompt_id)
    fold_history(from_history, recorded["history"][prompt_id], now=100)
    assert from_history[""]["status"] == from_messages[""]["status"]
    assert output_images(from_history) == output_images(from_messages)


def test_preview_images_are_not_outputs():
    recorded = load_fixture("comfyui/upload_loadimage_scale_save.json")
    prompt_id = recorded["post_body"]["prompt_id"]
    progress = new_progress(recorded["workflow"], prompt_id)
    fold_history(progress, recorded["history"][prompt_id])
    assert {ref["type"] for ref in output_images(progress)} == {"output"}
    assert {ref["type"] for ref in output_images(progress, ("output", "temp"))} == {"output", "temp"}


def test_the_node_that_failed_is_not_shown_as_finished():
    progress, recorded = replay("interrupt.json")
    stopped = recorded["history"][recorded["post_body"]["prompt_id"]]["status"]["messages"][-1][1]["node_id"]
    assert progress[stopped]["value"] < progress[stopped]["max"]


def test_the_overall_fraction_never_goes_back_during_a_recorded_run(couple_photo_prompt):
    recorded = load_fixture("comfyui/v0.3.64/10_ksampler_random_sd15.json")
    prompt = next(e["http"]["request_json"]["prompt"] for e in recorded["events"] if "http" in e
                  and e["http"].get("path") == "/prompt" and e["http"].get("method") == "POST")  # fmt: skip
    progress = new_progress(prompt, "")
    fractions = []
    for event in recorded["events"]:
        message = event.get("ws_recv")
        if message and message.get("type") != "status":
            fold_message(progress, message)
            fractions.append(overall_fraction(progress, prompt))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert node_weight(couple_photo_prompt["3"]) == couple_photo_prompt["3"]["inputs"]["steps"]


def test_animations_and_videos_are_outputs_too():
    progress = new_progress({"7": {}, "8": {}}, "p")
    gif = {"filename": "clip_00001.gif", "subfolder": "", "type": "output", "format": "image/gif"}
    fold_message(progress, {"type": "executed", "data": {"node": "7", "prompt_id": "p", "output": {"gifs": [gif]}}})
    video = {"filename": "v.mp4", "subfolder": "x", "type": "output"}
    history = {"outputs": {"8": {"videos": [video], "animated": [True]}}, "status": {"status_str": "success"}}
    fold_history(progress, history)
    assert [(ref["node"], ref["filename"]) for ref in output_images(progress)] == [
        ("7", "clip_00001.gif"),
        ("8", "v.mp4"),
    ]
