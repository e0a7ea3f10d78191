from __future__ import annotations

from django import forms
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import translation

from comfyweb.campaigns.views import _group_fields


class SampleForm(forms.Form):
    photo = forms.FileField(label="Your photo")
    character = forms.ChoiceField(
        label="Character", choices=[("/static/characters/a.png", "A")], widget=forms.RadioSelect
    )
    strength = forms.IntegerField(label="Strength", widget=forms.NumberInput(attrs={"type": "range"}))


def _render(form, params) -> str:
    request = RequestFactory().get("/t/x/")
    context = {
        "workflow_template": None,
        "form": form,
        "groups": _group_fields(form, params),
        "window": "open",
        "quantity": 4,
        "quantities": range(1, 9),
    }
    with translation.override("en"):
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


def test_field_errors_are_shown_next_to_the_field(db):
    form = SampleForm(data={}, files={})
    assert not form.is_valid()
    html = _render(form, [])
    assert html.count('class="error" role="alert"') >= 2 and "has-error" in html
