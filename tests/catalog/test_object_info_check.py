"""Checks that know the product (catalog.object_info_check): seeds of -1, pictures, titles, choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.utils import translation

from comfyweb.catalog.backends_check import report_for_backends
from comfyweb.catalog.object_info_check import check_against_object_info, find_problems
from tests.catalog.conftest import shipped_templates

RECORDED = json.loads((Path(__file__).resolve().parents[2] / "comfyweb/emulator/object_info.json").read_text())


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def sampler(seed) -> dict:
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": 20,
                "cfg": 7,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["4", 0],
                "negative": ["4", 0],
                "latent_image": ["4", 0],
            },
        },
        "4": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
    }


def test_a_seed_of_minus_one_is_random_not_out_of_range():
    assert check_against_object_info(sampler(-1), RECORDED) == []
    prompt = sampler(-1)
    prompt["3"]["inputs"]["steps"] = -1
    assert check_against_object_info(prompt, RECORDED) == ["3 (KSampler): steps=-1 is outside 1…10000."]
    assert check_against_object_info(sampler(-2), RECORDED) == [
        "3 (KSampler): seed=-2 is outside 0…18446744073709551615.",
        "4 (RandomNoise): noise_seed=-2 is outside 0…18446744073709551615.",
    ]


@pytest.mark.parametrize("entry", [e for e in shipped_templates() if e["slug"] in ("couple-photo", "background-swap")])
def test_the_shipped_couple_templates_have_no_seed_problem(entry):
    problems = check_against_object_info(entry["prompt"], RECORDED, entry["params"])
    assert not [p for p in problems if "seed" in p]


def load_image(value: str) -> dict:
    return {"10": {"class_type": "LoadImage", "inputs": {"image": value}, "_meta": {"title": "Your photo"}}}


IMAGE_FIELD = [{"type": "image", "id": "10", "key": "image", "title": "Photo"}]


def test_a_picture_missing_on_the_backend_is_flagged_unless_visitors_give_it():
    [problem] = check_against_object_info(load_image("holiday.png"), RECORDED, [])
    assert problem.startswith("10 “Your photo” (LoadImage): image “holiday.png” is not in this backend's input folder")
    assert "visitors are not asked" in problem
    # Exposed: the field's default is the missing file, so a visitor who skips it would fail.
    [problem] = check_against_object_info(load_image("holiday.png"), RECORDED, IMAGE_FIELD)
    assert "when a visitor gives no picture, the field falls back to “holiday.png”" in problem
    assert check_against_object_info(load_image(""), RECORDED, IMAGE_FIELD) == []
    # The backend has example.png; URLs, data URLs and this site's files are fetched when the job runs.
    for value in ("example.png", "https://example.com/a.png", "data:image/png;base64,AA", "/static/mask.png"):
        assert check_against_object_info(load_image(value), RECORDED, []) == [], value
    [problem] = check_against_object_info(load_image(""), RECORDED, [])
    assert "no picture is set and visitors are not asked for one" in problem


def test_select_options_must_be_values_the_backend_accepts():
    prompt = {"2": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}}
    panel = {"type": "select", "id": "2", "key": "sampler_name", "options": ["euler", "warp_drive"]}
    [problem] = check_against_object_info(prompt, RECORDED, [panel])
    assert "sampler_name='warp_drive' is not offered by this backend" in problem
    assert problem.endswith("(a choice of the form)")
    panel["options"] = "NoSuchLoader"
    [problem] = check_against_object_info(prompt, RECORDED, [panel])
    assert "come from NoSuchLoader.sampler_name, which this backend does not list" in problem
    panel["options"] = "KSamplerSelect"
    assert check_against_object_info(prompt, RECORDED, [panel]) == []


def test_findings_say_which_nodes_and_models_a_backend_lacks(emulator_backend):
    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
        "9": {"class_type": "IPAdapterAdvanced", "inputs": {}, "_meta": {"title": "Face style"}},
    }
    kinds = [(f.kind, f.node_id) for f in find_problems(prompt, RECORDED)]
    assert kinds == [("missing_model", "4"), ("missing_node", "9")]
    backend = [(emulator_backend.name, emulator_backend.url, emulator_backend.kind, emulator_backend.token)]
    [report] = report_for_backends(prompt, backend)
    assert report.missing_nodes == ["9 “Face style” (IPAdapterAdvanced)"]
    assert report.missing_models == [
        "4 (CheckpointLoaderSimple): ckpt_name='sdxl.safetensors' is not offered by this backend "
        "(missing model or bad name?)."
    ]
