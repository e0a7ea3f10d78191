"""Downloads a visitor can file away: `<template slug>-<date>-<n>.<ext>` instead of `ComfyUI_00002_.png`.

`n` counts the visitor's images of that template made that day (1, 2, 3… across every batch), so the
downloads of one day never take each other's names.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime, time, timedelta
from pathlib import PurePosixPath

from django.utils import timezone
from django.utils.text import slugify

from comfyweb.jobs.models import Job, JobOutput


def _same_visitor(job: Job):
    """The jobs of the visitor who made `job` (by account, else by session)."""
    if job.owner_id is not None:
        return Job.objects.filter(owner_id=job.owner_id)
    return Job.objects.filter(session_key=job.session_key, owner__isnull=True)


def image_number(output: JobOutput) -> int:
    """The place of `output` among its visitor's images of the same template made the same day (from 1)."""
    job = output.job
    day = timezone.localtime(job.created_at).date()
    start = timezone.make_aware(datetime.combine(day, time.min))
    jobs = _same_visitor(job).filter(created_at__gte=start, created_at__lt=start + timedelta(days=1))
    if job.template_id:
        jobs = jobs.filter(template_id=job.template_id)
    else:
        jobs = jobs.filter(template_title=job.template_title)
    ordered = JobOutput.objects.filter(job__in=jobs).order_by("job__created_at", "job_id", "node_id", "index")
    ids = list(ordered.values_list("pk", flat=True))
    return ids.index(output.pk) + 1 if output.pk in ids else 1


def download_name(output: JobOutput) -> str:
    """`couple-photo-2026-05-20-3.png`."""
    job = output.job
    slug = job.template.slug if job.template_id else slugify(job.template_title) or "image"
    day = timezone.localtime(job.created_at).date()
    extension = PurePosixPath(output.file.name).suffix.lower() or mimetypes.guess_extension(output.content_type) or ""
    return f"{slug}-{day.isoformat()}-{image_number(output)}{extension}"
