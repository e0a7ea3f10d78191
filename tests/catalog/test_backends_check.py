"""Checking templates against a backend's /object_info (the emulator's is recorded from ComfyUI 0.3.75)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.utils import translation

from comfyweb.catalog import backends_check
from comfyweb.catalog.backends_check import (
    BackendUnreachable,
    backends_options_resolver,
    combo_options,
    fetch_object_info,
    report_for_backends,
)
from comfyweb.catalog.services import check_against_object_info
from tests.catalog.conftest import shipped_templates
from tests.conftest import free_port

RECORDED = json.loads((Path(__file__).resolve().parents[2] / "comfyweb/emulator/object_info.json").read_text())


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def backend_of(row) -> list[tuple[str, str, str, str]]:
    return [(row.name, row.url, row.kind, row.token)]


def test_a_template_of_core_nodes_passes(emulator_backend, core_prompt, core_params):
    [report] = report_for_backends(core_prompt, backend_of(emulator_backend), core_params)
    assert (report.backend, report.reachable, report.problems) == ("emulator", True, [])


def test_a_missing_node_class_is_reported(emulator_backend, core_prompt):
    core_prompt["4"]["class_type"] = "IPAdapterAdvanced"
    [report] = report_for_backends(core_prompt, backend_of(emulator_backend))
    assert report.problems == ["4 (IPAdapterAdvanced): this backend has no such node type (missing custom node?)."]


def test_a_combo_value_the_backend_does_not_offer_is_reported(emulator_backend, core_prompt):
    core_prompt["4"]["inputs"]["blend_mode"] = "burn"
    [report] = report_for_backends(core_prompt, backend_of(emulator_backend))
    assert report.problems == [
        "4 (ImageBlend): blend_mode='burn' is not offered by this backend (missing model or bad name?)."
    ]


def test_a_value_out_of_range_is_reported(emulator_backend, core_prompt):
    core_prompt["3"]["inputs"]["width"] = 100000
    [report] = report_for_backends(core_prompt, backend_of(emulator_backend))
    assert len(report.problems) == 1 and "3 (EmptyImage): width=100000 is outside 1…16384." == report.problems[0]


def test_every_choice_of_the_form_is_checked_too(emulator_backend, core_prompt, core_params):
    core_params[1]["children"][0]["options"] = ["multiply", "glow"]
    core_params[1]["children"][2]["max"] = 99999
    [report] = report_for_backends(core_prompt, backend_of(emulator_backend), core_params)
    assert report.problems == [
        "4 (ImageBlend): blend_mode='glow' is not offered by this backend (missing model or bad name?)."
        " (a choice of the form)",
        "2 (ImageScale): width=99999 is outside 0…16384. (a choice of the form)",
    ]


def test_the_seed_couple_photo_lacks_custom_nodes_and_models_on_a_bare_comfyui(emulator_backend, couple_template):
    [report] = report_for_backends(couple_template["prompt"], backend_of(emulator_backend), couple_template["params"])
    missing = {p.split(":")[0] for p in report.problems if "no such node type" in p}
    # Missing nodes are named by id, title and class, so an operator finds them on the canvas.
    assert {name.split(" ")[0] + " " + name.rsplit(" ", 1)[-1] for name in missing} == {
        "15 (MaskFromRGBCMYBW+)",
        "21 (IPAdapterRegionalConditioning)",
        "22 (IPAdapterRegionalConditioning)",
        "23 (IPAdapterRegionalConditioning)",
        "28 (IPAdapterCombineParams)",
        "31 (ConditioningCombineMultiple+)",
        "32 (ConditioningCombineMultiple+)",
        "33 (IPAdapterFromParams)",
        "34 (IPAdapterUnifiedLoader)",
        "45 (IPAdapterModelLoader)",
        "46 (IPAdapterInsightFaceLoader)",
        "49 (OpenposePreprocessor)",
    }
    assert "46 “IPAdapter InsightFace Loader” (IPAdapterInsightFaceLoader)" in missing
    assert (
        "4 “Load Checkpoint” (CheckpointLoaderSimple): ckpt_name='majicMIX realistic_v7.safetensors' is not offered"
        in " ".join(report.problems)
    )


def test_a_required_input_the_prompt_lacks_is_reported():
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}}
    assert check_against_object_info(prompt, RECORDED) == [
        "1 (EmptyImage): this backend requires an input color the prompt does not set."
    ]


def test_newer_combo_spec_form_is_understood():
    info = {"Loader": {"input": {"required": {"name": ["COMBO", {"options": ["a.ckpt"]}]}}}}
    prompt = {"1": {"class_type": "Loader", "inputs": {"name": "b.ckpt"}}}
    assert "name='b.ckpt' is not offered" in check_against_object_info(prompt, info)[0]
    assert combo_options(info, "Loader", "name") == ["a.ckpt"]


def test_object_info_is_cached(emulator_thread):
    first = fetch_object_info(emulator_thread.url)
    emulator_thread.stop()
    assert fetch_object_info(emulator_thread.url) is not None
    assert first["ImageBlend"] == fetch_object_info(emulator_thread.url)["ImageBlend"]


def test_an_unreachable_backend_is_reported_not_raised(core_prompt, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    [report] = report_for_backends(core_prompt, [("gpu-1", url, "agent", "")])
    assert (report.backend, report.reachable, report.problems) == ("gpu-1", False, [])
    assert report.error
    calls = []
    monkeypatch.setattr(backends_check.httpx, "get", lambda *a, **k: calls.append(a))
    with pytest.raises(BackendUnreachable):
        fetch_object_info(url)
    assert calls == [], "a down backend is not asked again right away"


def test_options_come_from_the_first_backend_that_answers(emulator_backend):
    down = ("down", f"http://127.0.0.1:{free_port()}", "comfyui", "")
    resolve = backends_options_resolver([down, *backend_of(emulator_backend)])
    assert resolve({"type": "select", "id": "2", "key": "upscale_method", "options": "ImageScale"}) == [
        "nearest-exact",
        "bilinear",
        "area",
        "bicubic",
        "lanczos",
    ]
    assert backends_options_resolver([down])({"options": "ImageScale", "key": "upscale_method"}) == []


def test_the_pool_resolver_reads_the_enabled_backends(emulator_backend):
    assert "lanczos" in backends_options_resolver()({"options": "ImageScale", "key": "upscale_method"})


@pytest.mark.parametrize("entry", [t for t in shipped_templates() if t["slug"] in ("poster-frame", "colour-pop")])
def test_core_image_templates_need_nothing_a_bare_comfyui_lacks(entry):
    assert check_against_object_info(entry["prompt"], RECORDED, entry["params"]) == []
