"""My creations: the visitor's submissions (a batch, or one job), newest first, a page at a time; deleting one.

Deleting removes the jobs and, from storage, their output images and thumbnails and the photos the
visitor sent (unless another job still uses the same photo: inputs are stored once per content).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from comfyweb.campaigns.models import Campaign
from comfyweb.jobs.models import Job

logger = logging.getLogger(__name__)

PAGE_SIZE = 12  # submissions per page


@dataclass
class Creation:
    """One submission of the visitor: its jobs, where it came from and where to see it."""

    key: str
    jobs: list[Job]
    campaign: Campaign | None = None
    outputs: list[dict] = field(default_factory=list)

    @property
    def first(self) -> Job:
        return self.jobs[0]

    @property
    def is_batch(self) -> bool:
        return self.first.batch is not None

    @property
    def created_at(self) -> datetime:
        return self.first.created_at

    @property
    def title(self) -> str:
        template = self.first.template
        return template.i18n.title if template is not None else self.first.template_title

    @property
    def url(self) -> str:
        if self.is_batch:
            return reverse("campaigns:batch", kwargs={"batch_id": self.first.batch})
        return reverse("campaigns:job", kwargs={"job_id": self.first.pk})

    @property
    def again_url(self) -> str | None:
        """The template's form filled with the same choices (in the campaign it was made in, when it still runs)."""
        template = self.first.template
        if template is None or not template.is_visible or self.first.template_version == 0:
            return None  # (version 0: an operator's test run of a draft, which has no page of its own)
        if self.campaign is not None and self.campaign.enabled:
            kwargs = {"campaign": self.campaign.slug, "slug": template.slug}
            base = reverse("campaigns:campaign_template", kwargs=kwargs)
        else:
            base = template.get_absolute_url()
        return f"{base}?again={self.first.pk}"

    @property
    def active(self) -> bool:
        return any(job.status in Job.ACTIVE_STATUSES for job in self.jobs)

    @property
    def summary(self) -> str:
        """How its images are doing, e.g. "3 done · 1 being made"."""
        counts: dict[str, int] = {}
        for job in self.jobs:
            state = "active" if job.status in Job.ACTIVE_STATUSES else job.status
            counts[state] = counts.get(state, 0) + 1
        words = {
            Job.Status.SUCCEEDED: _("%(n)d done"),
            "active": _("%(n)d being made"),
            Job.Status.FAILED: _("%(n)d failed"),
            Job.Status.CANCELLED: _("%(n)d cancelled"),
        }
        return " · ".join(words[state] % {"n": counts[state]} for state in words if counts.get(state))


def creation_keys(jobs: QuerySet[Job]) -> list[str]:
    """One key per submission (the batch id, or the job id of a single job), newest first."""
    rows = jobs.order_by("-created_at", "-id").values_list("id", "batch")
    return list(dict.fromkeys(str(batch or job_id) for job_id, batch in rows))


def creations_page(jobs: QuerySet[Job], number: object) -> tuple[Page, list[Creation]]:
    """The page `number` of the visitor's submissions (out-of-range numbers give the nearest page)."""
    page = Paginator(creation_keys(jobs), PAGE_SIZE).get_page(number)
    keys = list(page.object_list)
    rows = (
        jobs.filter(Q(batch__in=keys) | Q(id__in=keys, batch__isnull=True))
        .select_related("template")
        .prefetch_related("outputs")
        .order_by("created_at", "id")
    )
    grouped: dict[str, list[Job]] = {key: [] for key in keys}
    for job in rows:
        grouped[str(job.batch or job.pk)].append(job)
    slugs = {getattr(job, "campaign", "") for group in grouped.values() for job in group} - {""}
    campaigns = {c.slug: c for c in Campaign.objects.filter(slug__in=slugs)}
    creations = []
    for key, group in grouped.items():
        if not group:
            continue
        creation = Creation(key=key, jobs=group, campaign=campaigns.get(getattr(group[0], "campaign", "")))
        for job in group:
            if job.status != Job.Status.SUCCEEDED:
                continue
            for n, output in enumerate((o for o in job.outputs.all() if not o.is_withheld), start=1):
                creation.outputs.append(
                    {
                        "url": output.file.url,
                        "thumbnail_url": output.thumbnail.url if output.thumbnail else output.file.url,
                        "download_url": reverse("campaigns:job_image", kwargs={"job_id": job.pk, "n": n}),
                        "width": output.width,
                        "height": output.height,
                    }
                )
        creations.append(creation)
    return page, creations


def parse_key(raw: object) -> str | None:
    try:
        return str(uuid.UUID(str(raw)))
    except (TypeError, ValueError):
        return None


def delete_creation(jobs: QuerySet[Job], key: str) -> int:
    """Delete one submission of the visitor (`jobs` is the visitor's own) with its files; the job count.

    Refused (ValidationError) while one of its images is still being made: cancel it first.
    """
    group = list(jobs.filter(Q(batch=key) | Q(id=key, batch__isnull=True)).prefetch_related("outputs"))
    if not group:
        return 0
    if any(job.status in Job.ACTIVE_STATUSES for job in group):
        raise ValidationError(_("Some of these images are still being made: cancel them or wait, then delete."))
    outputs = [output for job in group for output in job.outputs.all()]
    files = [name for output in outputs for name in (output.file.name, output.thumbnail.name)]
    inputs = {
        value["image"]
        for job in group
        for value in (job.values or {}).values()
        if isinstance(value, dict) and isinstance(value.get("image"), str)
    }
    ids = [job.pk for job in group]
    with transaction.atomic():
        Job.objects.filter(pk__in=ids).delete()
    still_used = {name for name in inputs if Job.objects.filter(values__icontains=name).exists()}
    for name in [*files, *(inputs - still_used)]:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete %s from storage", name)
    return len(ids)
