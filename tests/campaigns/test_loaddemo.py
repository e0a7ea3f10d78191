from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from comfyweb.campaigns.models import Campaign


def test_loaddemo_creates_the_couple_photo_campaign_once(make_template):
    make_template("couple-photo")
    make_template("background-swap")
    call_command("loaddemo", "--skip-workflows")
    call_command("loaddemo", "--skip-workflows")
    campaign = Campaign.objects.get()
    assert campaign.slug == "couple-photo" and campaign.title == "破次元壁合照"
    assert [t.slug for t in campaign.ordered_templates()] == ["couple-photo", "background-swap"]


def test_loaddemo_reports_templates_missing_from_the_catalog(db, capsys, tmp_path):
    data = tmp_path / "c.json"
    data.write_text(json.dumps([{"slug": "x", "title": "X", "templates": ["nope"]}]))
    call_command("loaddemo", "--skip-workflows", "--campaigns", str(data))
    assert "nope" in capsys.readouterr().err
    assert Campaign.objects.get(slug="x").entries.count() == 0


def test_loaddemo_refuses_a_missing_campaigns_file(db, tmp_path):
    with pytest.raises(CommandError, match="not found"):
        call_command("loaddemo", "--skip-workflows", "--campaigns", str(tmp_path / "missing.json"))
