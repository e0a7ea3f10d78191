from __future__ import annotations

import re

from django import forms
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import translation

from comfyweb.campaigns.error_summary import error_summary
from comfyweb.campaigns.views import _group_fields


class SampleForm(forms.Form):
    photo = forms.FileField(label="Your photo")
    character = forms.ChoiceField(
        label="Character", choices=[("/static/characters/a.png", "A")], widget=forms.RadioSelect
    )
    strength = forms.IntegerField(label="Strength", widget=forms.NumberInput(attrs={"type": "range"}))


def _render(form, params) -> str:
    """The page in English, as a request for it renders it (the error summary is written in its language too)."""
    with translation.override("en"):
        return _render_in_active_language(form, params)


def _render_in_active_language(form, params) -> str:
    request = RequestFactory().get("/t/x/")
    context = {
        "workflow_template": None,
        "form": form,
        "groups": _group_fields(form, params),
        "window": "open",
        "quantity": 4,
        "quantities": range(1, 9),
        "problems": error_summary(form, []),
    }
    return render_to_string("campaigns/template.html", context, request=request)


def test_each_field_type_gets_its_enhancement_hooks(db):
    form = SampleForm()
    form.fields["photo"].widget.attrs["id"] = "id_photo"
    html = _render(form, [])
    assert 'for="id_photo"' in html and 'data-preview-for="id_photo"' in html
    assert "data-range-output" in html
    assert '<img src="/static/characters/a.png"' in html
    assert "How many images?" in html


def test_grouped_fields_follow_the_group_title(db):
    class Grouped(forms.Form):
        a = forms.CharField()
        b = forms.CharField()

    form = Grouped(prefix=None)
    form.fields["10.image"] = form.fields.pop("a")
    form.fields["99.text"] = form.fields.pop("b")
    steps = _group_fields(form, [{"type": "group", "title": "STEP 1", "children": [{"id": "10", "key": "image"}]}])
    assert [(s["label"], [f.name for f in s["fields"]]) for s in steps] == [("STEP 1", ["10.image"]), ("", ["99.text"])]


def test_field_errors_are_shown_next_to_the_field_and_listed_at_the_top(db):
    form = SampleForm(data={}, files={})
    assert not form.is_valid()
    html = _render(form, [])
    assert html.count('<p class="error">') >= 2 and "has-error" in html
    summary = html[html.index("data-error-summary") : html.index('<ol class="steps">')]
    assert 'href="#id_photo" data-error-link>Your photo: This field is required.' in summary
    assert 'href="#id_character_0" data-error-link>Character:' in summary, "a choice links to its first option"
    assert html.index("data-error-summary") < html.index('id="id_photo"'), "the summary comes before the fields"


def test_a_shipped_template_renders_steps_gallery_slider_and_select(db):
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from comfyweb.catalog.forms import build_template_form

    workflows = Path(__file__).resolve().parents[2] / "workflows"
    couple, _swap = json.loads((workflows / "couple-photo.json").read_text(encoding="utf-8"))
    _poster, pop = json.loads((workflows / "core-image.json").read_text(encoding="utf-8"))

    couple_form = build_template_form(SimpleNamespace(prompt=couple["prompt"], params=couple["params"]))
    html = _render(couple_form, couple["params"])
    assert re.search(r"上传您的照片\s*</legend>", html) and "STEP" not in html
    assert html.count('<fieldset class="choices gallery"') == 1
    assert html.count('<img src="/static/characters/') == 7
    assert '<textarea name="24.text"' in html

    pop_form = build_template_form(SimpleNamespace(prompt=pop["prompt"], params=pop["params"]))
    html = _render(pop_form, pop["params"])
    assert re.search(r"风格\s*</legend>", html)
    assert '<select name="4.blend_mode"' in html and '<select name="3.color"' in html
    assert 'type="number" name="4.blend_factor"' in html and 'data-slider-for="id_4.blend_factor"' in html


def test_a_bounded_number_is_typed_in_or_slid(db):
    class Bounded(forms.Form):
        strength = forms.FloatField(
            label="Strength", widget=forms.NumberInput(attrs={"min": 0, "max": 1, "step": 0.1, "data-slider": ""})
        )

    html = _render(Bounded(initial={"strength": 0.5}), [])
    assert 'type="number" name="strength"' in html, "the typed entry is the field that is sent"
    slider = '<input type="range" class="slider" min="0" max="1" step="0.1" value="0.5" data-slider-for="id_strength"'
    assert slider in html
    assert 'aria-label="Strength" hidden>' in html, "the slider has no name and appears only with JavaScript"


def test_a_group_inside_a_group_is_a_part_of_its_step_with_its_own_heading(db):
    class Nested(forms.Form):
        a = forms.CharField(label="Your photo")
        b = forms.CharField(label="Strength")
        c = forms.CharField(label="Caption")

    form = Nested()
    for old, new in (("a", "1.image"), ("b", "4.blend_factor"), ("c", "6.text")):
        form.fields[new] = form.fields.pop(old)
    params = [
        {
            "type": "group",
            "title": "Style",
            "children": [
                {"id": "1", "key": "image"},
                {"type": "group", "title": "Fine tuning", "children": [{"id": "4", "key": "blend_factor"}]},
                {"id": "6", "key": "text"},
            ],
        }
    ]
    [step] = _group_fields(form, params)
    assert [(s["label"], [f.name for f in s["fields"]]) for s in step["sections"]] == [
        ("", ["1.image"]),
        ("Fine tuning", ["4.blend_factor"]),
        ("", ["6.text"]),
    ]
    html = " ".join(_render(form, params).split())
    assert '<fieldset class="substep"> <legend>Fine tuning</legend>' in html
    assert html.index("Your photo") < html.index("Fine tuning") < html.index("Strength") < html.index("Caption")
