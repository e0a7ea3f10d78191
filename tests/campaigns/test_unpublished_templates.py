"""Visitors never see a template that is not published: not on the home page, a campaign page, its own page,
the REST API or a job request; a published template keeps showing its published version while a draft waits."""

from __future__ import annotations

from comfyweb.campaigns.models import CampaignTemplate
from comfyweb.catalog import drafts
from comfyweb.catalog.models import WorkflowTemplate


def unpublished(slug: str, core=None) -> WorkflowTemplate:
    """A template as the admin's editor creates it: a draft, never published."""
    template = WorkflowTemplate(slug=slug, title="Not ready yet", prompt={}, params=[], version=0)
    template.save(as_draft=True)
    drafts.save_draft(template, drafts.content_of(template))
    return template


def test_campaign_pages_list_only_published_templates(client, campaign):
    draft = unpublished("not-ready")
    CampaignTemplate.objects.create(campaign=campaign, template=draft, position=0)
    html = client.get("/c/couple-photo/").content.decode()
    assert "/c/couple-photo/t/couple-photo/" in html and "not-ready" not in html
    assert client.get("/c/couple-photo/t/not-ready/").status_code == 404
    assert list(campaign.ordered_templates().values_list("slug", flat=True)) == ["couple-photo", "background-swap"]


def test_an_unpublished_template_is_nowhere_for_visitors(client, db):
    unpublished("not-ready")
    assert "not-ready" not in client.get("/").content.decode()
    assert client.get("/t/not-ready/").status_code == 404
    assert client.get("/api/v1/workflows/not-ready/").status_code == 404
    answer = client.post("/api/v1/jobs/", {"workflow": "not-ready"}, content_type="application/json")
    assert answer.status_code == 400 and "not-ready" in answer.content.decode()


def test_a_draft_of_a_published_template_stays_unseen(client, campaign):
    template = WorkflowTemplate.objects.get(slug="couple-photo")
    drafts.save_draft(template, {**drafts.content_of(template), "title": "Half edited"})
    assert "Half edited" not in client.get("/c/couple-photo/").content.decode()
    assert "Half edited" not in client.get("/c/couple-photo/t/couple-photo/").content.decode()
