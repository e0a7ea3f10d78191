from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from comfyweb.campaigns import services
from comfyweb.jobs.limits import check_rules
from comfyweb.jobs.models import Job


@pytest.mark.parametrize("raw", ["0", "9", "x", "-1"])
def test_quantity_outside_one_to_eight_is_refused(raw):
    with pytest.raises(ValidationError):
        services.parse_quantity(raw)


def test_quantity_defaults_to_one():
    assert services.parse_quantity(None) == 1
    assert services.parse_quantity("8") == 8


def test_quota_refuses_a_batch_that_would_exceed_it(campaign):
    Job.objects.create(owner_key="session:visitor-a", campaign=campaign.slug, template_title="x")
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        check_rules(services.submission_rules(None, campaign), owner_key="session:visitor-a", quantity=3)
    assert "Only 2 more images today" in refused.value.messages[0]
    check_rules(services.submission_rules(None, campaign), owner_key="session:visitor-a", quantity=2)


def test_quota_used_up_asks_to_come_back_tomorrow(campaign):
    for _ in range(3):
        Job.objects.create(owner_key="session:visitor-a", campaign=campaign.slug, template_title="x")
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        check_rules(services.submission_rules(None, campaign), owner_key="session:visitor-a", quantity=1)
    assert "come back tomorrow" in refused.value.messages[0]
    check_rules(services.submission_rules(None, campaign), owner_key="session:visitor-b", quantity=3)


def test_zero_quota_means_no_limit(campaign):
    campaign.daily_quota = 0
    for _ in range(5):
        Job.objects.create(owner_key="session:visitor-a", campaign=campaign.slug, template_title="x")
    check_rules(services.submission_rules(None, campaign), owner_key="session:visitor-a", quantity=8)


def test_a_closed_window_refuses_with_the_campaigns_message(campaign):
    campaign.ends_at = timezone.now() - timedelta(hours=1)
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        check_rules(services.submission_rules(None, campaign), owner_key="session:visitor-a", quantity=1)
    assert "This campaign has ended" in refused.value.messages[0]


def test_a_campaigns_quota_counts_only_that_campaigns_jobs(campaign):
    for _ in range(3):
        Job.objects.create(owner_key="session:visitor-a", campaign="another-campaign", template_title="x")
    check_rules(services.submission_rules(None, campaign), owner_key="session:visitor-a", quantity=3)


def test_campaign_quota_also_applies_to_the_plain_template_page(campaign, make_template):
    offered = campaign.ordered_templates().first()
    assert services.quota_campaigns(offered, None) == [campaign]
    assert services.quota_campaigns(make_template("not-offered"), None) == []
