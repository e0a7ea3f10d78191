"""A bounded number: typed in or slid, both kept in step, in a real browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_the_slider_and_the_number_box_move_together(django_page, shot):
    from comfyweb.catalog.services import import_templates

    entries = json.loads((WORKFLOWS / "core-image.json").read_text(encoding="utf-8"))
    pop = next(t for t in import_templates(entries, enable=True) if t.slug == "colour-pop")
    django_page.goto(f"/t/{pop.slug}/")
    box = django_page.locator('input[type="number"][name="4.blend_factor"]')
    slider = django_page.locator('input[data-slider-for="id_4.blend_factor"]')
    assert slider.is_visible(), "with JavaScript the slider is shown"
    slider.fill("0.8")
    assert box.input_value() == "0.8"
    box.fill("0.3")
    assert slider.input_value() == "0.3"
    shot(django_page, "08-number-and-slider")
