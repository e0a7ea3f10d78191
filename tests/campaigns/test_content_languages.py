"""Campaign and template texts in the visitor's language, with the default language as fallback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import translation

from comfyweb.campaigns.models import Campaign
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.services import export_templates, import_templates
from comfyweb.catalog.translations import localized_params, params_rows, validate_translations

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


@pytest.fixture
def demo(db):
    call_command("loaddemo", verbosity=0)
    return Campaign.objects.get(slug="couple-photo")


def test_english_visitors_read_the_couple_photo_campaign_in_english(client, demo):
    html = client.get("/c/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Step into their world" in html and "破次元壁合照" not in html
    assert "Your photo with a character" in html and "Background swap" in html
    page = client.get("/c/couple-photo/t/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for text in ("Upload your photo", "Choose a character", "Upload a background", "Describe yourself", "Yue Yao"):
        assert text in page, text
    assert "请上传" not in page and "STEP" not in page


def test_chinese_visitors_keep_the_chinese_texts(client, demo):
    html = client.get("/c/couple-photo/t/couple-photo/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "上传您的照片" in html and "玥瑶" in html and "Upload your photo" not in html
    assert "英文" not in html, "the Chinese help does not ask for English"
    assert 'placeholder="例如：黑色短发，戴眼镜"' in html


def test_describe_yourself_is_an_empty_box_with_an_example_and_an_empty_box_keeps_the_prompts_text(client, demo):
    """The prompt's own words ("illustration of a body with black hair…") are not the visitor's to read or keep."""
    from comfyweb.catalog.forms import build_template_form

    page = client.get("/t/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    box = re.search(r"<textarea[^>]*name=\"24.text\"[^>]*>([^<]*)</textarea>", page)
    assert box and box.group(1).strip() == "" and 'placeholder="e.g. short black hair, glasses"' in box.group(0)
    assert "illustration of a body" not in page
    form = build_template_form(WorkflowTemplate.objects.get(slug="couple-photo"), data={"24.text": "  "}, files={})
    form.is_valid()
    assert form.cleaned_data.get("24.text") is None, "an empty box keeps the prompt's own text"


def test_visitor_copy_has_no_engineering_notes_and_the_hero_says_upload(demo):
    for template in WorkflowTemplate.objects.all():
        for text in (template.description, template.translations.get("en", {}).get("description", "")):
            assert "ComfyUI" not in text and "CPU" not in text and "节点" not in text, template.slug
    assert "上传一张背景" in demo.intro and "选一个背景" not in demo.intro


def test_a_missing_translation_falls_back_to_the_default_language(db):
    template = WorkflowTemplate(
        title="标题",
        description="描述",
        params=[{"type": "select", "id": "1", "key": "k", "title": "颜色", "options": [1, 2], "labels": ["红", "蓝"]}],
        translations={"en": {"title": "Title", "params": {"1.k": {"labels": ["Red", ""]}}}},
    )
    with translation.override("en"):
        assert template.i18n.title == "Title" and template.i18n.description == "描述"
        [panel] = template.i18n.params
        assert panel["title"] == "颜色" and panel["labels"] == ["Red", "蓝"]
    with translation.override("zh-hans"):
        assert template.i18n.title == "标题"
    assert template.params[0]["labels"] == ["红", "蓝"], "the stored params are never changed"
    assert localized_params(template.params, template.translations, "en-gb")[0]["labels"][0] == "Red"


def test_translations_must_be_texts(db):
    assert validate_translations({"en": {"title": "ok", "params": {"1.k": {"labels": ["a"]}}}}) == []
    assert validate_translations({"en": {"title": 3}})
    assert validate_translations({"en": {"params": {"1.k": {"labels": "a"}}}})
    assert validate_translations(["en"])


def test_the_shipped_templates_round_trip_with_their_translations(db):
    entries = []
    for path in sorted(WORKFLOWS.glob("*.json")):
        entries.extend(json.loads(path.read_text(encoding="utf-8")))
    import_templates(entries)
    exported = {entry["slug"]: entry for entry in export_templates()}
    for entry in entries:
        assert exported[entry["slug"]]["translations"] == entry["translations"]
        assert {row.path for row in params_rows(entry["params"])} >= {
            ("params", key, "title") for key in entry["translations"]["en"]["params"]
        }


def test_the_campaign_admin_edits_the_texts_side_by_side(admin_client, demo):
    page = admin_client.get(f"/admin/campaigns/campaign/{demo.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert '<table class="translations">' in html
    assert 'name="translations.en.title"' in html and ">Step into their world</textarea>" in html
    assert ">破次元壁合照</td>" in html, "the default text sits beside its translation"

    from django.forms.models import model_to_dict

    data = {
        k: v for k, v in model_to_dict(demo).items() if v not in (None, "") and k not in ("translations", "label_badge")
    }
    data.update(
        {
            "translations": json.dumps(demo.translations),
            "translations.en.title": "Meet your hero",
            "translations.en.subtitle": "",
            "translations.en.intro": demo.translations["en"]["intro"],
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
        }
    )
    data["starts_at_0"] = data["starts_at_1"] = data["ends_at_0"] = data["ends_at_1"] = ""
    response = admin_client.post(f"/admin/campaigns/campaign/{demo.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    demo.refresh_from_db()
    assert demo.translations == {"en": {"title": "Meet your hero", "intro": data["translations.en.intro"]}}
