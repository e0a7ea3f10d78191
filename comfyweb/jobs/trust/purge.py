"""Retention: what the purge deletes, and when (docs/privacy.md).

* A job's photos (the visitor's uploads): `keep_uploads` after the job was sent. Their files go, and
  the copy of a photo inlined in the job's prompt (a data URL) is blanked; the job stays.
* The job itself, with its images and thumbnails: `keep_outputs` after it was sent (its photos too,
  whatever is left of them).
* Photos kept after a refused form and never sent with a job: PURGE_KEPT_PHOTOS_HOURS after they were kept.

Periods are the campaign's (jobs.trust.policy; the site's defaults otherwise). Jobs still queued or
running are never touched. A photo stored once for several jobs (same content) stays while one of them
still needs it. Files go through Django storage, so local disks and S3 behave the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from comfyweb.jobs.models import Job, JobOutput, StoredInput
from comfyweb.jobs.trust.policy import policy_for

logger = logging.getLogger(__name__)

BATCH = 200  # jobs per transaction


@dataclass
class PurgeReport:
    photos_of_jobs: int = 0  # jobs whose photos were deleted
    jobs: int = 0  # jobs deleted with their images
    kept_photos: int = 0  # kept photos never sent
    files: int = 0  # files deleted from storage

    def __str__(self) -> str:
        return (
            f"{self.jobs} job(s) deleted, photos of {self.photos_of_jobs} job(s) deleted, "
            f"{self.kept_photos} kept photo(s) expired, {self.files} file(s) removed from storage"
        )


def input_names(job: Job) -> set[str]:
    """The stored photos a job's values name."""
    return {
        value["image"]
        for value in (job.values or {}).values()
        if isinstance(value, dict) and isinstance(value.get("image"), str) and value["image"].startswith("inputs/")
    }


def scrub_prompt(value: object) -> object:
    """The prompt without inlined pictures (data URLs): the photo must not outlive its file."""
    if isinstance(value, dict):
        return {key: scrub_prompt(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_prompt(item) for item in value]
    if isinstance(value, str) and value.startswith("data:"):
        return ""
    return value


def delete_files(names: Iterable[str]) -> int:
    deleted = 0
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
            deleted += 1
        except OSError:
            logger.warning("could not delete %s from storage", name)
    return deleted


def still_needed(name: str, *, excluding: Iterable = (), now: datetime | None = None, kept: bool = True) -> bool:
    """Whether a stored photo must stay: another job still holds it, or (`kept`) a visitor kept it lately."""
    holders = Job.objects.filter(values__icontains=name, inputs_purged_at__isnull=True).exclude(pk__in=list(excluding))
    if holders.exists():
        return True
    if not kept:
        return False
    kept_since = (now or timezone.now()) - timedelta(hours=settings.PURGE_KEPT_PHOTOS_HOURS)
    return StoredInput.objects.filter(name=name, stored_at__gt=kept_since).exists()


def release_photos(names: set[str], *, excluding: Iterable = (), now: datetime | None = None, kept: bool = True) -> int:
    """Delete the photos no other job needs (files and their StoredInput rows); the number of files deleted.

    `kept=False` (a visitor deleting their own things) deletes photos kept lately too.
    """
    excluding = list(excluding)
    free = [name for name in sorted(names) if not still_needed(name, excluding=excluding, now=now, kept=kept)]
    StoredInput.objects.filter(name__in=free).delete()
    return delete_files(free)


def forget_jobs(jobs: QuerySet[Job], *, now: datetime | None = None, kept: bool = True) -> tuple[int, int]:
    """Delete finished jobs with their images, thumbnails and photos (rows and files); (jobs, files) deleted."""
    group = list(jobs.filter(status__in=Job.FINAL_STATUSES).prefetch_related("outputs"))
    if not group:
        return 0, 0
    outputs = [output for job in group for output in job.outputs.all()]
    files = [name for output in outputs for name in (output.file.name, output.thumbnail.name)]
    photos = set().union(*(input_names(job) for job in group))
    ids = [job.pk for job in group]
    with transaction.atomic():
        JobOutput.objects.filter(job_id__in=ids).delete()
        Job.objects.filter(pk__in=ids).delete()
    removed = delete_files(files) + release_photos(photos, now=now, kept=kept)
    return len(ids), removed


def purge_job_photos(jobs: QuerySet[Job], *, now: datetime) -> tuple[int, int]:
    """Delete the photos of finished jobs (the jobs stay, marked); (jobs, files)."""
    group = list(jobs.filter(status__in=Job.FINAL_STATUSES, inputs_purged_at__isnull=True))
    if not group:
        return 0, 0
    ids = [job.pk for job in group]
    photos = set().union(*(input_names(job) for job in group))
    with transaction.atomic():
        for job in group:
            Job.objects.filter(pk=job.pk).update(prompt=scrub_prompt(job.prompt), inputs_purged_at=now)
    return len(ids), release_photos(photos, excluding=ids, now=now)


def expiring(campaign: str, now: datetime) -> tuple[QuerySet[Job], QuerySet[Job]]:
    """(jobs whose photos are due, jobs that are due) of one campaign at `now`."""
    policy = policy_for(campaign)
    finished = Job.objects.filter(campaign=campaign, status__in=Job.FINAL_STATUSES)
    photos_due = finished.filter(created_at__lte=now - policy.keep_uploads, inputs_purged_at__isnull=True)
    return photos_due, finished.filter(created_at__lte=now - policy.keep_outputs)


def _in_batches(queryset: QuerySet[Job], step) -> tuple[int, int]:
    jobs = files = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:BATCH])
        if not ids:
            return jobs, files
        done, removed = step(Job.objects.filter(pk__in=ids))
        jobs, files = jobs + done, files + removed
        if done < len(ids):
            return jobs, files  # nothing more can be done now (e.g. rows changed meanwhile)


def expired_kept_photos(now: datetime) -> QuerySet[StoredInput]:
    return StoredInput.objects.filter(stored_at__lte=now - timedelta(hours=settings.PURGE_KEPT_PHOTOS_HOURS))


def purge(*, now: datetime | None = None) -> PurgeReport:
    """Delete everything past its retention at `now` (default: the current time)."""
    now = now or timezone.now()
    report = PurgeReport()
    for campaign in Job.objects.values_list("campaign", flat=True).distinct().order_by():
        photos_due, jobs_due = expiring(campaign, now)
        jobs, files = _in_batches(jobs_due, lambda batch: forget_jobs(batch, now=now))
        report.jobs, report.files = report.jobs + jobs, report.files + files
        jobs, files = _in_batches(photos_due, lambda batch: purge_job_photos(batch, now=now))
        report.photos_of_jobs, report.files = report.photos_of_jobs + jobs, report.files + files
    for kept in expired_kept_photos(now).iterator():
        if Job.objects.filter(values__icontains=kept.name, inputs_purged_at__isnull=True).exists():
            continue  # sent with a job after all: the job's retention decides
        kept.delete()
        report.kept_photos += 1
        report.files += delete_files([kept.name])
    if report.jobs or report.photos_of_jobs or report.kept_photos:
        logger.info("purge: %s", report)
    return report


def upcoming_purges(campaign: str, *, now: datetime | None = None) -> dict[str, tuple[int, int]]:
    """What the purge deletes of a campaign's jobs in the next day and week: {span: (photos of jobs, jobs)}."""
    from django.utils.translation import gettext as _

    now = now or timezone.now()
    spans = {_("24 hours"): timedelta(days=1), _("7 days"): timedelta(days=7)}
    counts = {}
    for label, span in spans.items():
        photos_due, jobs_due = expiring(campaign, now + span)
        counts[label] = (photos_due.count(), jobs_due.count())
    return counts


def due_dates(job: Job) -> tuple[datetime | None, datetime]:
    """(when the job's photos go — None when already gone, when the job goes) under its campaign's policy."""
    policy = policy_for(job.campaign)
    photos = None if job.inputs_purged_at else job.created_at + policy.keep_uploads
    return photos, job.created_at + policy.keep_outputs


@dataclass
class Forgotten:
    jobs: int = 0
    files: int = 0
    stopping: int = 0  # jobs still queued or running: cancelled now, deleted by the next request


def forget_visitor(jobs: QuerySet[Job], *, kept_photos: Iterable[str] = (), cancel=None) -> Forgotten:
    """A visitor's "delete everything of mine": their finished jobs with every file, their kept photos, and
    a cancel (`cancel(job)`) of what is still running."""
    result = Forgotten()
    active = list(jobs.filter(status__in=Job.ACTIVE_STATUSES))
    for job in active:
        if cancel is not None:
            cancel(job)
    result.stopping = jobs.filter(status__in=Job.ACTIVE_STATUSES).count()
    result.jobs, result.files = forget_jobs(jobs, kept=False)
    result.files += release_photos(set(kept_photos), kept=False)
    return result
