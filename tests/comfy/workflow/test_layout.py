"""Each node class's widgets laid out as the front end lays them out, from the recorded /object_info."""

from __future__ import annotations

import json
from pathlib import Path

from comfyweb.comfy.workflow.layout import build_layout

RECORDED = json.loads((Path(__file__).resolve().parents[3] / "comfyweb/emulator/object_info.json").read_text())


def test_the_seed_widget_is_followed_by_its_control_after_generate_slot():
    layout = build_layout("KSampler", RECORDED["KSampler"])
    names = [(w.name, w.in_prompt, w.has_slot) for w in layout.widgets]
    assert names[:3] == [("seed", True, True), ("control_after_generate", False, True), ("steps", True, True)]
    upload = build_layout("LoadImage", RECORDED["LoadImage"]).widgets
    assert [(w.name, w.in_prompt) for w in upload] == [("image", True), ("upload", False)]
