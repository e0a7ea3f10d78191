"""Plain functions behind the pages: quotas, submission and what a job page shows."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from comfyweb.campaigns.models import Campaign
from comfyweb.campaigns.trust import asking_campaign, consent_terms
from comfyweb.jobs.limits import DailyQuota, SubmissionRules
from comfyweb.jobs.services import quantity_message

MIN_QUANTITY = 1


def parse_quantity(raw: object) -> int:
    """How many images the visitor asked for (1–JOB_MAX_QUANTITY); bad input is a clear error, not a default."""
    if raw in (None, ""):
        return settings.JOB_DEFAULT_QUANTITY
    try:
        quantity = int(str(raw))
    except ValueError:
        raise ValidationError(quantity_message()) from None
    if not MIN_QUANTITY <= quantity <= settings.JOB_MAX_QUANTITY:
        raise ValidationError(quantity_message())
    return quantity


def quota_campaigns(template, campaign: Campaign | None) -> list[Campaign]:
    """The campaigns whose quota applies: the one visited, or every enabled campaign offering the template.

    Reaching a campaign's template through `/t/<slug>/` must not get around that campaign's quota.
    """
    if campaign is not None:
        return [campaign]
    if template is None:
        return []
    return list(
        Campaign.objects.filter(enabled=True, daily_quota__gt=0, entries__template=template).distinct().order_by("pk")
    )


def window_refusal(campaign: Campaign | None) -> str:
    """Submissions outside the campaign's time window are refused politely ("" when it is open)."""
    state = campaign.window_state() if campaign is not None else "open"
    if state == "upcoming":
        return str(_("This campaign has not started yet."))
    if state == "ended":
        return str(_("This campaign has ended. Thank you for your interest!"))
    return ""


def submission_rules(template, campaign: Campaign | None) -> SubmissionRules:
    """What jobs must enforce for this submission: the campaign's window, the quotas and the consent that apply.

    The jobs count for the campaign visited; without one (the plain template page, the REST API, a
    retry), for the first campaign offering the template, and every such campaign's quota applies.
    Without a campaign visited, consent is asked when the template or any enabled campaign offering it
    asks for it (the first such campaign's terms).
    """
    limiting = quota_campaigns(template, campaign)
    charged = campaign or (limiting[0] if limiting else None)
    terms = consent_terms(template, campaign)
    if campaign is None:
        charged = charged or asking_campaign(template)  # the jobs count under the terms they were sent with
    return SubmissionRules(
        campaign=charged.slug if charged is not None else "",
        refusal=window_refusal(campaign),
        daily_quotas=tuple(DailyQuota(campaign=c.slug, limit=c.daily_quota) for c in limiting),
        consent=terms,
    )


def rules_without_campaign(template) -> SubmissionRules:
    """The rules provider for jobs (REST API, retries): the quotas of every campaign offering the template."""
    return submission_rules(template, None)
