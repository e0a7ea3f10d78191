"""Operator text is data, never markup: payloads in every operator field, every page and admin page rendered.

Templates, campaigns, params (titles, descriptions, option labels, gallery options), node titles and
job texts all hold the corpus of tests/operator_payloads.py; each page is parsed and must show the
payloads as text only: no element, attribute, event handler or script URL of theirs.
"""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from comfyweb.catalog.forms import build_template_form
from tests.operator_payloads import (
    MARK,
    TEXT,
    markup_problems,
    payload_params,
    payload_prompt,
    seed_payloads,
    visible_text,
    visitor_pages,
)


@pytest.fixture
def seeded(visitor) -> dict:
    return seed_payloads(session_key=visitor)


@pytest.fixture
def staff_client(db) -> Client:
    staff = Client()
    staff.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x"))
    return staff


def _html(answer) -> str:
    assert answer["Content-Type"].startswith("text/html"), answer["Content-Type"]
    return answer.content.decode()


def _assert_escaped(html: str, where: str, *, shows_text: bool = True) -> None:
    problems = markup_problems(html)
    assert not problems, f"{where}: {problems}"
    if shows_text:
        assert MARK in visible_text(html), f"{where}: the operator text was not shown at all"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_visitor_page_shows_operator_text_as_text(client, seeded, language):
    for path in visitor_pages(seeded):
        answer = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
        assert answer.status_code == 200, path
        _assert_escaped(_html(answer), path)


def test_a_refused_submission_shows_operator_text_as_text(client, seeded):
    template = seeded["templates"][0]
    answer = client.post(
        f"/t/{template.slug}/",
        {"1.image": "javascript:alert('x')", "4.blend_mode": "nope", "4.blend_factor": "7", "quantity": "1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert answer.status_code == 400
    _assert_escaped(_html(answer), "template page with errors")


def test_the_campaign_theme_carries_no_operator_css(client, seeded):
    css = client.get(f"/c/{seeded['campaign'].slug}/theme.css").content.decode()
    assert MARK not in css and "<" not in css and "}" not in css.split("}")[0][:-1]


def test_help_text_is_escaped_wherever_django_prints_it(db):
    """Django prints help_text as HTML (as_div, as_p, the admin): the form escapes operator text once."""
    from types import SimpleNamespace

    form = build_template_form(SimpleNamespace(prompt=payload_prompt(), params=payload_params()))
    for rendering in (form.as_div(), form.as_p(), form.as_table(), form.as_ul()):
        assert not markup_problems(rendering)
        assert MARK in visible_text(rendering)


def test_the_rest_api_and_its_docs_keep_operator_text_as_data(client, seeded):
    template = seeded["templates"][0]
    listing = client.get("/api/v1/workflows/", HTTP_ACCEPT="application/json")
    assert listing["Content-Type"].startswith("application/json")
    entry = next(item for item in listing.json() if item["slug"] == template.slug)
    assert entry["title"] == TEXT, "JSON carries the text as it is (escaping is the renderer's job)"
    assert {field["description"] for field in entry["fields"]} == {TEXT}, "not HTML-escaped for API clients"
    for path in ["/api/v1/workflows/", f"/api/v1/workflows/{template.slug}/", f"/api/v1/jobs/{seeded['jobs'][0].id}/"]:
        browsable = client.get(path, HTTP_ACCEPT="text/html")
        assert browsable.status_code == 200, path
        _assert_escaped(_html(browsable), f"browsable {path}")
    docs = client.get("/api/v1/docs/")
    _assert_escaped(_html(docs), "API docs", shows_text=False)
    schema = client.get("/api/v1/schema/").content.decode()
    assert MARK not in schema, "the schema holds no database text"


def admin_pages(seeded) -> list[str]:
    template, campaign = seeded["templates"][0], seeded["campaign"]
    job = seeded["jobs"][1]
    return [
        "/admin/",
        "/admin/catalog/workflowtemplate/",
        f"/admin/catalog/workflowtemplate/?q={TEXT}",
        f"/admin/catalog/workflowtemplate/{template.pk}/change/",
        f"/admin/catalog/workflowtemplate/{template.pk}/preview/",
        f"/admin/catalog/workflowtemplate/{template.pk}/preview/?version=1",
        f"/admin/catalog/workflowtemplate/{template.pk}/versions/",
        f"/admin/catalog/workflowtemplate/{template.pk}/versions/1/",
        f"/admin/catalog/workflowtemplate/{template.pk}/history/",
        f"/admin/catalog/workflowtemplate/{template.pk}/delete/",
        f"/admin/catalog/workflowtemplate/add/?title={TEXT}&description={TEXT}",
        "/admin/campaigns/campaign/",
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        f"/admin/campaigns/campaign/{campaign.pk}/delete/",
        "/admin/jobs/job/",
        f"/admin/jobs/job/{job.pk}/change/",
    ]


def test_every_admin_page_shows_operator_text_as_text(staff_client, seeded):
    for path in admin_pages(seeded):
        answer = staff_client.get(path, HTTP_ACCEPT_LANGUAGE="en")
        assert answer.status_code == 200, path
        _assert_escaped(_html(answer), path, shows_text=path != "/admin/" and "?q=" not in path)


def test_the_admin_previews_show_operator_text_as_text(staff_client, seeded):
    live = staff_client.post(
        "/admin/catalog/workflowtemplate/preview/",
        {"title": TEXT, "prompt": json.dumps(payload_prompt()), "params": json.dumps(payload_params())},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert live.status_code == 200
    _assert_escaped(_html(live), "live preview")

    broken = staff_client.post(
        "/admin/catalog/workflowtemplate/preview/",
        {"title": TEXT, "prompt": json.dumps(payload_prompt()), "params": json.dumps([{"type": "image", "id": TEXT}])},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    _assert_escaped(_html(broken), "live preview with problems")


def test_the_admin_import_reports_problems_as_text(staff_client, db):
    upload = io.BytesIO(
        json.dumps([{"title": TEXT, "prompt": {TEXT: {"inputs": {}}}, "params": [{"id": TEXT}]}]).encode()
    )
    upload.name = "payload.json"
    answer = staff_client.post("/admin/catalog/workflowtemplate/import/", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 200
    _assert_escaped(_html(answer), "import errors")


def test_a_saved_change_page_with_payloads_round_trips_as_text(staff_client, seeded):
    """Saving the change form of a payload template keeps the text exactly (escaping is for display only)."""
    template = seeded["templates"][0]
    page = staff_client.get(f"/admin/catalog/workflowtemplate/{template.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    template.refresh_from_db()
    assert template.title == TEXT and template.params == payload_params()


def test_the_template_editor_its_draft_and_test_runs_show_operator_text_as_text(staff_client, seeded):
    """The editor's cards (titles, reasons, node titles, option values and labels), a draft on the change page,
    a refused test run drawn again: all payloads stay text."""
    from comfyweb.catalog import drafts

    template = seeded["templates"][0]
    drafts.save_draft(template, {**drafts.content_of(template), "description": TEXT + " (draft)"})
    change = staff_client.get(f"/admin/catalog/workflowtemplate/{template.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    _assert_escaped(_html(change), "change page with a draft")
    assert "(draft)" in visible_text(_html(change))

    cards = staff_client.post(
        "/admin/catalog/workflowtemplate/editor/",
        {
            "prompt": json.dumps(payload_prompt()),
            "params": json.dumps(payload_params()),
            "operation": "add",
            "name": "2.upscale_method",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert cards["Content-Type"] == "application/json"
    _assert_escaped(cards.json()["html"], "editor cards")

    refused = staff_client.post(
        f"/admin/catalog/workflowtemplate/{template.pk}/preview/",
        {
            "title": TEXT,
            "prompt": json.dumps(payload_prompt()),
            "params": json.dumps(payload_params()),
            "_test_run": "1",
            "4.blend_mode": TEXT,
            "5.filename_prefix": TEXT,
            "backend": TEXT,
            "quantity": TEXT,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert refused.status_code == 400
    _assert_escaped(_html(refused), "refused test run")
