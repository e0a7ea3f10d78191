"""The limits a submission must pass: the visitor's queue cap, the address's caps, and campaign rules.

Who a visitor is: their account, else their session (`visitor_identity`). The queue cap and a
campaign's daily quota count that visitor, so people who share one address (a venue's Wi-Fi, a
carrier NAT) each get their own. An address gets its own, larger caps (JOB_MAX_QUEUED_PER_ADDRESS,
JOB_ADDRESS_QUOTA_FACTOR times a daily quota) and the creation rate limits (jobs.api.throttles), so
one person who drops their cookies cannot multiply themselves past them.

Limits are checked under locks on the visitor and on the address in the transaction that creates
the jobs (`visitor_lock`), so concurrent submissions cannot all pass a check that only one of them
should.

Campaigns own their time window and daily quota; jobs only enforce them. A page that knows its
campaign passes that campaign's `SubmissionRules` to `submit_jobs`. Submissions that come without
one (the REST API, a retry) ask the rules provider that the campaigns app installs when it starts
(`use_rules_provider`): the provider is data flowing down, so jobs never imports campaigns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job
from comfyweb.jobs.trust.consent import ConsentTerms


@dataclass(frozen=True)
class DailyQuota:
    """At most `limit` jobs of campaign `campaign` per visitor in 24 hours."""

    campaign: str
    limit: int


@dataclass(frozen=True)
class SubmissionRules:
    """What a campaign asks of a submission.

    `campaign`: the campaign the jobs count for; `refusal`: say no with this message (a closed
    window); `daily_quotas`: each checked against the jobs of its own campaign; `consent`: the consent
    terms a submission with the visitor's photos must accept (None: none asked for).
    """

    campaign: str = ""
    refusal: str = ""
    daily_quotas: tuple[DailyQuota, ...] = ()
    consent: ConsentTerms | None = None


RulesProvider = Callable[[WorkflowTemplate], SubmissionRules]


def _no_rules(template: WorkflowTemplate) -> SubmissionRules:
    return SubmissionRules()


_rules_provider: RulesProvider = _no_rules


def use_rules_provider(provider: RulesProvider | None) -> None:
    """Install the rules for submissions that name no campaign (None: no rules)."""
    global _rules_provider
    _rules_provider = provider or _no_rules


def rules_for(template: WorkflowTemplate | None) -> SubmissionRules:
    """The rules for a submission of `template` that came without a campaign."""
    return _rules_provider(template) if template is not None else SubmissionRules()


def visitor_identity(*, owner=None, session_key: str = "", client_ip: str | None = None) -> str:
    """Whom fairness and the per-visitor limits count a job for: the account, else the session.

    A client without any session (none could be kept) is counted by its address.
    """
    if owner is not None and getattr(owner, "is_authenticated", False):
        return f"user:{owner.pk}"
    if session_key:
        return f"session:{session_key}"
    return f"ip:{client_ip or 'unknown'}"


@contextmanager
def visitor_lock(owner_key: str, client_ip: str | None = None) -> Iterator[None]:
    """Serialise the submissions of one visitor and of one address, so limits are checked and jobs
    created as one step.

    PostgreSQL: transaction-scoped advisory locks, taken in one order (the address, then the visitor)
    so two submissions never wait on each other crosswise. SQLite: the transaction itself (BEGIN
    IMMEDIATE takes the database's write lock before the first read).
    """
    keys = [f"address:{client_ip}"] if client_ip else []
    keys.append(f"visitor:{owner_key}")
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for key in keys:
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"comfyweb:{key}"])
        yield


def jobs_today(owner_key: str | None = None, *, client_ip: str | None = None, campaign: str | None = None, now=None):
    """The jobs of the last 24 hours (the quota window) of a visitor or of an address, of one campaign when given."""
    since = (now or timezone.now()) - timedelta(days=1)
    jobs = Job.objects.filter(created_at__gte=since)
    jobs = jobs.filter(owner_key=owner_key) if owner_key is not None else jobs.filter(client_ip=client_ip)
    return jobs.filter(campaign=campaign) if campaign is not None else jobs


def _quota_refusal(*, limit: int, left: int, address: bool) -> str:
    if left == 0 and address:
        return _("Today's images for this campaign from your network are used up. Please come back tomorrow.")
    if left == 0:
        return _("You have used today's %(quota)d images for this campaign. Please come back tomorrow.") % {
            "quota": limit
        }
    if address:
        return _("Only %(left)d more images today for this campaign from your network: lower the quantity.") % {
            "left": left
        }
    return _("Only %(left)d more images today for this campaign: lower the quantity.") % {"left": left}


def check_daily_quota(quota: DailyQuota, *, owner_key: str, quantity: int, client_ip: str | None = None) -> None:
    """Refuse a submission that would take the visitor, or their address, over a daily quota
    (code "quota_exceeded"); an address may use JOB_ADDRESS_QUOTA_FACTOR visitors' quotas."""
    if not quota.limit:
        return
    checks = [(quota.limit, jobs_today(owner_key, campaign=quota.campaign), False)]
    if client_ip:
        address_limit = quota.limit * settings.JOB_ADDRESS_QUOTA_FACTOR
        checks.append((address_limit, jobs_today(client_ip=client_ip, campaign=quota.campaign), True))
    for limit, used, address in checks:
        left = max(limit - used.count(), 0)
        if quantity > left:
            raise ValidationError(_quota_refusal(limit=limit, left=left, address=address), code="quota_exceeded")


def check_rules(rules: SubmissionRules, *, owner_key: str, quantity: int, client_ip: str | None = None) -> None:
    """A campaign's refusal first, then each of its daily quotas."""
    if rules.refusal:
        raise ValidationError(rules.refusal, code="refused")
    for quota in rules.daily_quotas:
        check_daily_quota(quota, owner_key=owner_key, quantity=quantity, client_ip=client_ip)


def check_queue_cap(owner_key: str, *, adding: int, client_ip: str | None = None) -> None:
    """Refuse more waiting jobs than JOB_MAX_QUEUED_PER_VISITOR (code "queue_full"), or than
    JOB_MAX_QUEUED_PER_ADDRESS from one address (code "address_full")."""
    waiting = Job.objects.filter(status__in=Job.ACTIVE_STATUSES, owner_key=owner_key).count()
    if waiting + adding > settings.JOB_MAX_QUEUED_PER_VISITOR:
        raise ValidationError(
            _("You already have %(n)d images waiting. Please wait for them to finish.") % {"n": waiting},
            code="queue_full",
        )
    if not client_ip:
        return
    from_address = Job.objects.filter(status__in=Job.ACTIVE_STATUSES, client_ip=client_ip).count()
    if from_address + adding > settings.JOB_MAX_QUEUED_PER_ADDRESS:
        raise ValidationError(
            _("Many images from your network are already waiting. Please wait a little and try again."),
            code="address_full",
        )
