"""Plain functions behind the pages: quotas, submission and what a job page shows."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from comfyweb.campaigns.models import Campaign

MIN_QUANTITY = 1
MAX_QUANTITY = 8
DEFAULT_QUANTITY = 4


VISITOR_KEY = "comfyweb_visitor"  # in the session: the key the visitor's anonymous jobs were made under


def visitor_session_key(request: HttpRequest) -> str:
    """Anonymous visitors own their jobs through the session, so make sure one exists.

    The key is also kept in the session's data: logging in changes the key but keeps the data,
    so the jobs made before can be handed to the account (see jobs.signals).
    """
    if not request.session.session_key:
        request.session.save()
    key = request.session.session_key or ""
    if key and VISITOR_KEY not in request.session:
        request.session[VISITOR_KEY] = key
    return key


def parse_quantity(raw: object) -> int:
    """How many images the visitor asked for (1–8); bad input is a clear error, not a silent default."""
    if raw in (None, ""):
        return DEFAULT_QUANTITY
    try:
        quantity = int(str(raw))
    except ValueError:
        raise ValidationError(_("Choose how many images to make (1–8).")) from None
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise ValidationError(_("Choose how many images to make (1–8)."))
    return quantity


def jobs_today(*, user, session_key: str, now=None):
    """The visitor's jobs of the last 24 hours (the quota window)."""
    from comfyweb.jobs.models import Job

    since = (now or timezone.now()) - timedelta(days=1)
    jobs = Job.objects.filter(created_at__gte=since)
    if user is not None and user.is_authenticated:
        return jobs.filter(owner=user)
    return jobs.filter(session_key=session_key)


def check_quota(campaign: Campaign | None, *, user, session_key: str, quantity: int) -> None:
    """Refuse a submission that would take the visitor over the campaign's daily quota."""
    if campaign is None or not campaign.daily_quota:
        return
    used = jobs_today(user=user, session_key=session_key).count()
    left = max(campaign.daily_quota - used, 0)
    if quantity > left:
        if left == 0:
            raise ValidationError(
                _("You have used today's %(quota)d images for this campaign. Please come back tomorrow."),
                params={"quota": campaign.daily_quota},
            )
        raise ValidationError(
            _("Only %(left)d more images today for this campaign: lower the quantity."), params={"left": left}
        )


def quota_campaigns(template, campaign: Campaign | None) -> list[Campaign]:
    """The campaigns whose quota applies: the one visited, or every enabled campaign offering the template.

    Reaching a campaign's template through `/t/<slug>/` must not get around that campaign's quota.
    """
    if campaign is not None:
        return [campaign]
    return list(Campaign.objects.filter(enabled=True, daily_quota__gt=0, entries__template=template).distinct())


def check_window(campaign: Campaign | None) -> None:
    """Submissions outside the campaign's time window are refused politely."""
    if campaign is None:
        return
    state = campaign.window_state()
    if state == "upcoming":
        raise ValidationError(_("This campaign has not started yet."))
    if state == "ended":
        raise ValidationError(_("This campaign has ended. Thank you for your interest!"))
