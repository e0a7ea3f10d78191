"""Editing a template's texts in other languages side by side (catalog.translations.TranslationsFormMixin)."""

from __future__ import annotations

import json

import pytest
from django import forms

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.translations import TranslationsFormMixin

pytestmark = pytest.mark.django_db

PROMPT = {"1": {"class_type": "LoadImage", "inputs": {"image": ""}}, "3": {"class_type": "X", "inputs": {"color": 1}}}
PARAMS = [
    {"type": "group", "title": "照片", "children": [{"type": "image", "id": "1", "key": "image", "title": "您的照片"}]},
    {"type": "select", "id": "3", "key": "color", "title": "颜色", "options": [1, 2], "labels": ["红", "蓝"]},
]


class TemplateTextsForm(TranslationsFormMixin, forms.ModelForm):
    class Meta:
        model = WorkflowTemplate
        fields = ["title", "description", "translations"]


@pytest.fixture
def template() -> WorkflowTemplate:
    return WorkflowTemplate.objects.create(
        title="海报",
        slug="poster",
        prompt=PROMPT,
        params=PARAMS,
        translations={"en": {"title": "Poster", "params": {"3.color": {"labels": ["Red", "Blue"]}}}},
    )


def test_every_visitor_text_has_a_row_beside_its_default(template):
    html = str(TemplateTextsForm(instance=template)["translations"])
    for name in (
        "translations.en.title",
        "translations.en.description",
        "translations.en.params.group:1.title",
        "translations.en.params.1.image.title",
        "translations.en.params.3.color.labels.1",
    ):
        assert f'name="{name}"' in html, name
    assert ">Poster</textarea>" in html and ">Blue</textarea>" in html
    assert '<td lang="zh-hans">颜色</td>' in html and '<td lang="zh-hans">蓝</td>' in html


def test_saving_the_rows_writes_the_translations_and_drops_empty_texts(template):
    data = {
        "title": template.title,
        "description": "",
        "translations": json.dumps(template.translations),
        "translations.en.title": "Poster",
        "translations.en.description": "",
        "translations.en.params.group:1.title": "Photo",
        "translations.en.params.1.image.title": "",
        "translations.en.params.1.image.description": "",
        "translations.en.params.3.color.title": "Colour",
        "translations.en.params.3.color.description": "",
        "translations.en.params.3.color.labels.0": "",
        "translations.en.params.3.color.labels.1": "Blue",
    }
    form = TemplateTextsForm(data, instance=template)
    assert form.is_valid(), form.errors
    form.save()
    template.refresh_from_db()
    assert template.translations == {
        "en": {
            "title": "Poster",
            "params": {"group:1": {"title": "Photo"}, "3.color": {"title": "Colour", "labels": ["", "Blue"]}},
        }
    }
