"""What the studio tells an operator: a fresh import is a draft (not a version "published by —"), fields
visitors could not tell apart are refused, live previews in words, and texts visitors of the other language
would read untranslated."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from comfyweb.catalog import drafts
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.preview import Draft
from comfyweb.catalog.translations import translation_gaps
from tests.catalog.test_drafts import change_url, editor_post
from tests.comfy.workflow.ui_cases import txt2img

IMPORT_URL = "/admin/catalog/workflowtemplate/import/"
LIVE_PREVIEW_URL = "/admin/catalog/workflowtemplate/preview/"


@pytest.fixture
def operator(admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client


def test_a_workflow_imported_in_the_admin_is_the_operators_draft_not_a_published_version(operator, admin_user):
    upload = SimpleUploadedFile("lighthouse.json", json.dumps(txt2img().workflow).encode())
    response = operator.post(IMPORT_URL, {"file": upload}, follow=True)
    template = WorkflowTemplate.objects.get()
    html = response.content.decode()
    assert "Imported “lighthouse”" in html
    assert "Draft, not published yet: visitors do not see this template." in html
    assert template.published_at is None and not template.versions.filter(published_at__isnull=False).exists()
    assert drafts.draft_of(template).created_by == admin_user
    versions = operator.get(f"/admin/catalog/workflowtemplate/{template.pk}/versions/").content.decode()
    assert "published by" in versions and "No version yet" not in versions


def test_a_version_published_without_an_operator_does_not_say_by_whom_as_a_dash(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    html = operator.get(f"/admin/catalog/workflowtemplate/{template.pk}/versions/1/").content.decode()
    assert "by —" not in html and "from a workflows file or by a script" in " ".join(html.split())


def test_two_visible_fields_with_one_title_are_refused_when_saving(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    params = copy.deepcopy(core_params)
    params[2]["title"] = "photo "  # the same as "Photo" to a visitor
    response = operator.post(change_url(template), editor_post(template, core_prompt, params))
    assert response.status_code == 200
    assert "2 fields are titled “Photo” (1.image, 5.filename_prefix): visitors could not tell them apart." in (
        response.content.decode()
    )
    params[2]["hidden"] = True  # a hidden field has no title a visitor reads
    assert operator.post(change_url(template), editor_post(template, core_prompt, params)).status_code == 302


def test_live_previews_are_chosen_in_words(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    html = operator.get(change_url(template)).content.decode()
    assert "Show the picture forming while it is made" in html and "Show only the finished pictures" in html
    assert "As the site sets it (now: on)" in html
    assert ">Unknown<" not in html
    post = editor_post(template, core_prompt, core_params, live_previews="false")
    assert operator.post(change_url(template), post).status_code == 302
    template.refresh_from_db()
    assert template.live_previews is False


def test_texts_visitors_of_the_other_language_read_untranslated_are_pointed_out(operator, core_prompt, core_params):
    params = copy.deepcopy(core_params)
    params[0]["title"] = "Your portrait"  # typed in English into the Chinese text
    params[1]["title"] = "风格"
    draft = Draft(title="夏日色调", prompt=core_prompt, params=params, translations={"en": {"title": "Summer tint"}})
    gaps = {gap.language: gap for gap in translation_gaps(draft, draft.params, draft.translations)}
    assert "Your portrait · title: “Your portrait”" in gaps["简体中文"].foreign
    assert not [text for text in gaps["简体中文"].foreign if "风格" in text]
    assert "Title" not in gaps["English"].missing, "the title has its English"
    assert "风格 · title" in gaps["English"].missing
    html = operator.post(
        LIVE_PREVIEW_URL,
        {"title": "夏日色调", "prompt": json.dumps(core_prompt), "params": json.dumps(params), "_language": "zh-hans"},
    ).content.decode()
    assert "texts would show visitors another language: see which" in html
    assert "No English translation yet: English visitors read these texts in the default language:" in html
    assert "These default texts do not look like 简体中文" in html

    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    response = operator.post(change_url(template), editor_post(template, core_prompt, params), follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert any("have no English translation" in m for m in messages)
