"""What a campaign asks of the trust features, handed down as data: retention, thresholds, labels.

Jobs know a job's campaign only by its slug. The campaigns app installs a provider
(`use_policy_provider`) that turns a slug into that campaign's `TrustPolicy`; without one, or for
jobs without a campaign, the site's defaults from settings apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.conf import settings


@dataclass(frozen=True)
class LabelSpec:
    """The visible AI-generated label: text (or the operator's badge image, as storage name), where, how big."""

    visible: bool = True
    text: str = "AI生成"
    badge: str = ""  # a storage name; drawn instead of the text when set
    position: str = "bottom-right"  # bottom-right | bottom-left | top-right | top-left
    size_percent: int = 5  # the label's height in % of the image's shorter side


@dataclass(frozen=True)
class TrustPolicy:
    keep_uploads: timedelta
    keep_outputs: timedelta
    input_threshold: float
    output_threshold: float
    label: LabelSpec = field(default_factory=LabelSpec)


def site_policy() -> TrustPolicy:
    """The site's defaults (settings), for jobs without a campaign and campaign fields left empty."""
    return TrustPolicy(
        keep_uploads=timedelta(days=settings.PURGE_KEEP_UPLOADS_DAYS),
        keep_outputs=timedelta(days=settings.PURGE_KEEP_OUTPUTS_DAYS),
        input_threshold=settings.MODERATION_INPUT_THRESHOLD,
        output_threshold=settings.MODERATION_OUTPUT_THRESHOLD,
        label=LabelSpec(visible=settings.LABEL_VISIBLE, text=settings.LABEL_TEXT),
    )


def with_overrides(base: TrustPolicy, **changes) -> TrustPolicy:
    """`base` with the given fields replaced; None means "keep the default" (a campaign field left empty)."""
    label_changes = {k: v for k, v in changes.pop("label", {}).items() if v not in (None, "")}
    kept = {k: v for k, v in changes.items() if v is not None}
    return replace(base, **kept, label=replace(base.label, **label_changes))


PolicyProvider = Callable[[str], TrustPolicy]


def _site_only(campaign: str) -> TrustPolicy:
    return site_policy()


_provider: PolicyProvider = _site_only


def use_policy_provider(provider: PolicyProvider | None) -> None:
    """Install the campaign slug → TrustPolicy lookup (None: the site's defaults for every job)."""
    global _provider
    _provider = provider or _site_only


def policy_for(campaign: str) -> TrustPolicy:
    """The policy of the jobs of campaign `campaign` ("" for no campaign: the site's)."""
    return _provider(campaign) if campaign else site_policy()
