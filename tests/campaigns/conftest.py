from __future__ import annotations

import pytest

from comfyweb.campaigns.models import Campaign, CampaignTemplate
from comfyweb.catalog.models import WorkflowTemplate


@pytest.fixture
def make_template(db):
    def make(slug: str, **extra) -> WorkflowTemplate:
        extra.setdefault("title", slug.title())
        return WorkflowTemplate.objects.create(slug=slug, prompt={}, params=[], **extra)

    return make


@pytest.fixture
def campaign(db, make_template) -> Campaign:
    campaign = Campaign.objects.create(slug="couple-photo", title="破次元壁合照", subtitle="合照", daily_quota=3)
    CampaignTemplate.objects.create(campaign=campaign, template=make_template("background-swap"), position=2)
    CampaignTemplate.objects.create(campaign=campaign, template=make_template("couple-photo"), position=1)
    return campaign


@pytest.fixture
def visitor(client, db) -> str:
    """The test client's session key: jobs created with it belong to this visitor."""
    client.get("/")
    session = client.session
    session.save()
    return session.session_key
