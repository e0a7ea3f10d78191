"""A campaign's trust settings handed down to jobs (docs/privacy.md): its policy (retention, moderation
thresholds, labels) and the consent terms of a submission, plus what its privacy statement shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils.translation import gettext as _

from comfyweb.campaigns.models import Campaign
from comfyweb.jobs.trust.consent import SITE_CONSENT_VERSION, ConsentTerms
from comfyweb.jobs.trust.policy import TrustPolicy, policy_for, site_policy, with_overrides


def campaign_policy(campaign: Campaign) -> TrustPolicy:
    """The campaign's settings over the site's defaults (an empty field keeps the default)."""
    return with_overrides(
        site_policy(),
        keep_uploads=timedelta(days=campaign.keep_uploads_days) if campaign.keep_uploads_days is not None else None,
        keep_outputs=timedelta(days=campaign.keep_outputs_days) if campaign.keep_outputs_days is not None else None,
        input_threshold=campaign.input_threshold,
        output_threshold=campaign.output_threshold,
        label={
            "visible": campaign.label_visible,
            "text": campaign.label_text,
            "badge": campaign.label_badge.name if campaign.label_badge else "",
            "position": campaign.label_position,
            "size_percent": campaign.label_size,
        },
    )


def policy_by_slug(slug: str) -> TrustPolicy:
    """The provider jobs asks (jobs.trust.policy.use_policy_provider): a deleted campaign gets the site's."""
    campaign = Campaign.objects.filter(slug=slug).first()
    return campaign_policy(campaign) if campaign is not None else site_policy()


def asking_campaign(template) -> Campaign | None:
    """Outside a campaign (the template's own page, the REST API): the first enabled campaign offering the
    template that asks for consent. Its terms apply, so its consent cannot be got around."""
    if template is None or getattr(template, "pk", None) is None:
        return None
    asking = Campaign.objects.filter(enabled=True, consent_required=True, entries__template=template)
    return asking.distinct().order_by("pk").first()


def consent_terms(template, campaign: Campaign | None) -> ConsentTerms | None:
    """The consent a submission with photos needs: the campaign's text (when it or the template asks for
    consent; outside a campaign, the asking campaign's), else the site's text for a template that asks;
    None when nobody asks."""
    campaign = campaign or asking_campaign(template)
    if campaign is not None and (campaign.consent_required or getattr(template, "requires_consent", False)):
        return ConsentTerms(version=f"{campaign.slug}/{campaign.consent_version}")
    if getattr(template, "requires_consent", False):
        return ConsentTerms(version=SITE_CONSENT_VERSION)
    return None


def default_consent_text() -> str:
    return _(
        "I agree that the photos I send, which show people, are used only to make these images. They are "
        "deleted after the time the privacy statement gives, and I confirm the people shown agree too."
    )


def default_purpose() -> str:
    return _("Your photos are used only to make the images you ask for, and for nothing else.")


@dataclass(frozen=True)
class ConsentBox:
    """What the consent checkbox shows: the text in the visitor's language, its version, the statement's link."""

    text: str
    version: str
    privacy_url: str


def consent_box(template, campaign: Campaign | None) -> ConsentBox | None:
    from django.urls import reverse

    terms = consent_terms(template, campaign)
    if terms is None:
        return None
    campaign = campaign or (asking_campaign(template) if terms.version != SITE_CONSENT_VERSION else None)
    if campaign is not None:
        text = campaign.i18n.consent_text or default_consent_text()
        return ConsentBox(text=text, version=terms.version, privacy_url=campaign.privacy_url)
    return ConsentBox(text=default_consent_text(), version=terms.version, privacy_url=reverse("campaigns:privacy"))


def days(period: timedelta) -> int:
    return max(0, round(period.total_seconds() / 86400))


def privacy_facts(campaign: Campaign | None) -> dict:
    """The figures of the privacy statement: retention periods and how long kept photos stay."""
    from django.conf import settings

    policy = campaign_policy(campaign) if campaign is not None else policy_for("")
    return {
        "keep_uploads_days": days(policy.keep_uploads),
        "keep_outputs_days": days(policy.keep_outputs),
        "kept_photos_hours": settings.PURGE_KEPT_PHOTOS_HOURS,
        "purpose": (campaign.i18n.privacy_purpose if campaign is not None else "") or default_purpose(),
        "consent": consent_box(None, campaign) if campaign is not None and campaign.consent_required else None,
        "labels_visible": policy.label.visible,
    }
