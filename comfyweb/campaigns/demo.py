"""The shipped demo campaigns, loaded idempotently by `manage.py loaddemo`."""

from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction

from comfyweb.campaigns.models import Campaign, CampaignTemplate
from comfyweb.catalog.models import WorkflowTemplate

DEMO_CAMPAIGNS = Path(__file__).parent / "data" / "campaigns.json"
CAMPAIGN_FIELDS = (
    "title",
    "subtitle",
    "intro",
    "hero_image",
    "primary_color",
    "accent_color",
    "daily_quota",
    "enabled",
    "translations",
)


@transaction.atomic
def load_campaigns(data: list[dict]) -> tuple[list[Campaign], list[str]]:
    """Create or update campaigns by slug and set their ordered templates.

    Returns the campaigns and the template slugs that are not in the catalog (reported, not fatal,
    so a partial catalog still gives a working site).
    """
    campaigns: list[Campaign] = []
    missing: list[str] = []
    for entry in data:
        defaults = {key: entry[key] for key in CAMPAIGN_FIELDS if key in entry}
        campaign, _created = Campaign.objects.update_or_create(slug=entry["slug"], defaults=defaults)
        wanted = []
        for position, slug in enumerate(entry.get("templates", [])):
            template = WorkflowTemplate.objects.filter(slug=slug).first()
            if template is None:
                missing.append(slug)
                continue
            CampaignTemplate.objects.update_or_create(
                campaign=campaign, template=template, defaults={"position": position}
            )
            wanted.append(template.pk)
        campaign.entries.exclude(template_id__in=wanted).delete()
        campaigns.append(campaign)
    return campaigns, missing


def load_campaigns_file(path: Path = DEMO_CAMPAIGNS) -> tuple[list[Campaign], list[str]]:
    return load_campaigns(json.loads(path.read_text(encoding="utf-8")))
