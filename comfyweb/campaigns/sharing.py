"""Share links: a visitor's images (one job's, or a batch's) opened read-only by whoever holds the link.

A link is a random token stored with the job it names (`ShareLink`), so it is revoked by deleting: the
visitor's "stop sharing" deletes the row, and deleting the images (the visitor's own delete, the retention
purge) deletes their links with them. A link expires when the visitor chose (SHARE_LINK_DAYS by default,
at most SHARE_LINK_MAX_DAYS) and never after the images themselves are due to be deleted.

What a link shows is decided here and only here: `shown_outputs()` (the finished images, less any the
operators withhold: `output_may_be_shown`). The share page, its images, its downloads and its ZIP all read it.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from comfyweb.campaigns.models import ShareLink
from comfyweb.jobs.models import Job, JobOutput
from comfyweb.jobs.trust.purge import due_dates

TOKEN_BYTES = 18  # 144 random bits: 24 URL-safe characters


def output_may_be_shown(output: JobOutput) -> bool:
    """Whether an image may leave the site through a share link or an archive: never one the moderation
    withheld for the operators' review (or one they deleted); one they released may."""
    return not output.is_withheld


def shown_outputs(job: Job) -> list[JobOutput]:
    """The images of a finished job that may be shown, in the order its card numbers them (1, 2, …)."""
    if job.status != Job.Status.SUCCEEDED:
        return []
    return [output for output in job.outputs.all() if output_may_be_shown(output)]


def link_jobs(link: ShareLink) -> list[Job]:
    """The jobs a link shows: its job, or every job of its batch, in the batch page's order."""
    jobs = Job.objects.filter(pk=link.job_id) if link.batch is None else Job.objects.filter(batch=link.batch)
    jobs = jobs.without_prompt().select_related("template").prefetch_related("outputs").order_by("created_at", "id")
    owner = (link.job.owner_id, link.job.session_key)
    return [job for job in jobs if (job.owner_id, job.session_key) == owner]  # a batch is one visitor's


def retention_deadline(jobs: list[Job]) -> datetime | None:
    """When the first of these jobs is due to be deleted with its images (its campaign's retention,
    jobs.trust.purge): a link never outlives the images it shows. None when there are no jobs."""
    return min((due_dates(job)[1] for job in jobs), default=None)


def day_choices() -> list[int]:
    """The validity periods a visitor may choose from, in days (the default among them)."""
    longest = max(1, settings.SHARE_LINK_MAX_DAYS)
    days = {1, min(settings.SHARE_LINK_DAYS, longest), longest}
    return sorted(day for day in days if day >= 1)


def parse_days(raw: object) -> int:
    """The visitor's choice of validity; anything not offered is refused with a clear message."""
    try:
        days = int(str(raw))
    except (TypeError, ValueError):
        days = 0
    if days not in day_choices():
        raise ValidationError(_("Choose how long the link works: %(choices)s days.") % {"choices": _choices_text()})
    return days


def _choices_text() -> str:
    return ", ".join(str(day) for day in day_choices())


def validity_label(days: int) -> str:
    return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}


@dataclass
class Shareable:
    """What a visitor is about to share: one job, or a batch (`batch` set), and its jobs."""

    job: Job
    batch: uuid.UUID | None
    jobs: list[Job]

    @property
    def images(self) -> int:
        return sum(len(shown_outputs(job)) for job in self.jobs)


def shareable_job(own_jobs: QuerySet[Job], job_id) -> Shareable | None:
    """One of the visitor's own jobs (`own_jobs`), to share on its own."""
    job = own_jobs.filter(pk=job_id).prefetch_related("outputs").first()
    return Shareable(job=job, batch=None, jobs=[job]) if job is not None else None


def shareable_batch(own_jobs: QuerySet[Job], batch_id) -> Shareable | None:
    """A batch of the visitor's own jobs, to share as a whole (its link names the batch's first job)."""
    jobs = list(own_jobs.filter(batch=batch_id).prefetch_related("outputs").order_by("created_at", "id"))
    return Shareable(job=jobs[0], batch=batch_id, jobs=jobs) if jobs else None


def active_link(shareable: Shareable, now: datetime | None = None) -> ShareLink | None:
    """The newest link of this job or batch that still works."""
    now = now or timezone.now()
    links = ShareLink.objects.filter(expires_at__gt=now)
    links = links.filter(batch=shareable.batch) if shareable.batch else links.filter(job=shareable.job, batch=None)
    return links.order_by("-expires_at").first()


def create_link(shareable: Shareable, *, days: int, now: datetime | None = None) -> ShareLink:
    """A new link valid for `days` (never past the images' own deletion); refused when nothing can be shown."""
    if not shareable.images:
        raise ValidationError(_("There is no finished image to share yet."))
    now = now or timezone.now()
    expires = now + timedelta(days=days)
    deadline = retention_deadline(shareable.jobs)
    if deadline is not None:
        if deadline <= now:
            raise ValidationError(_("These images are about to be deleted: they can no longer be shared."))
        expires = min(expires, deadline)
    return ShareLink.objects.create(
        token=secrets.token_urlsafe(TOKEN_BYTES), job=shareable.job, batch=shareable.batch, expires_at=expires
    )


@dataclass
class Opened:
    """What a share link opens: the link, and its images with the jobs they belong to ([] when none is left)."""

    link: ShareLink
    images: list[tuple[Job, int, JobOutput]]  # (job, its number on the card, output)


def open_link(token: str) -> ShareLink | None:
    """The link a token stands for (expired or not), or None when there is none (never was, or was revoked)."""
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        return None
    return ShareLink.objects.select_related("job").defer("job__prompt").filter(token=token).first()


def shared_images(link: ShareLink) -> Opened:
    """The images a live link shows, numbered as on their cards (the named downloads use the same numbers)."""
    images = [
        (job, number, output) for job in link_jobs(link) for number, output in enumerate(shown_outputs(job), start=1)
    ]
    return Opened(link=link, images=images)


def shared_image(link: ShareLink, job_id, number: int) -> JobOutput | None:
    """The `number`-th shown image of one of the link's jobs."""
    for job, n, output in shared_images(link).images:
        if str(job.pk) == str(job_id) and n == number:
            return output
    return None
