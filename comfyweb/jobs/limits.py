"""The limits a submission must pass: the visitor's queue cap, and rules a campaign hands in as data.

Limits count jobs by visitor identity (`visitor_identity`), and are checked under a lock on that
identity in the transaction that creates the jobs (`owner_lock`), so concurrent submissions of one
visitor cannot all pass a check that only one of them should.

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
    """Whom limits and the fair queue count a job for: the account, else the visitor's address or session.

    Anonymous visitors are counted by their address by default, so a client that drops its cookies
    does not get a fresh allowance. Sites whose visitors share one address (a campus behind NAT) set
    JOB_ANONYMOUS_IDENTITY=session to count by session instead.
    """
    if owner is not None and getattr(owner, "is_authenticated", False):
        return f"user:{owner.pk}"
    if settings.JOB_ANONYMOUS_IDENTITY == "address" and client_ip:
        return f"ip:{client_ip}"
    return f"session:{session_key}" if session_key else f"ip:{client_ip or 'unknown'}"


@contextmanager
def owner_lock(owner_key: str) -> Iterator[None]:
    """Serialise one owner's submissions, so limits are checked and jobs created as one step.

    PostgreSQL: a transaction-scoped advisory lock on the owner. SQLite: the transaction itself
    (BEGIN IMMEDIATE takes the database's write lock before the first read).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"comfyweb:{owner_key}"])
        yield


def jobs_today(owner_key: str, *, campaign: str | None = None, now=None):
    """The owner's jobs of the last 24 hours (the quota window), of one campaign when given."""
    since = (now or timezone.now()) - timedelta(days=1)
    jobs = Job.objects.filter(created_at__gte=since, owner_key=owner_key)
    return jobs.filter(campaign=campaign) if campaign is not None else jobs


def check_daily_quota(quota: DailyQuota, *, owner_key: str, quantity: int) -> None:
    """Refuse a submission that would take the visitor over a daily quota (code "quota_exceeded")."""
    if not quota.limit:
        return
    used = jobs_today(owner_key, campaign=quota.campaign).count()
    left = max(quota.limit - used, 0)
    if quantity <= left:
        return
    if left == 0:
        message = _("You have used today's %(quota)d images for this campaign. Please come back tomorrow.") % {
            "quota": quota.limit
        }
    else:
        message = _("Only %(left)d more images today for this campaign: lower the quantity.") % {"left": left}
    raise ValidationError(message, code="quota_exceeded")


def check_rules(rules: SubmissionRules, *, owner_key: str, quantity: int) -> None:
    """A campaign's refusal first, then each of its daily quotas."""
    if rules.refusal:
        raise ValidationError(rules.refusal, code="refused")
    for quota in rules.daily_quotas:
        check_daily_quota(quota, owner_key=owner_key, quantity=quantity)


def check_queue_cap(owner_key: str, *, adding: int) -> None:
    """Refuse more waiting jobs than JOB_MAX_QUEUED_PER_VISITOR (code "queue_full")."""
    waiting = Job.objects.filter(status__in=Job.ACTIVE_STATUSES, owner_key=owner_key).count()
    if waiting + adding > settings.JOB_MAX_QUEUED_PER_VISITOR:
        raise ValidationError(
            _("You already have %(n)d images waiting. Please wait for them to finish.") % {"n": waiting},
            code="queue_full",
        )
