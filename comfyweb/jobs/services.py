"""Creating and cancelling jobs: the only places that change a job on a visitor's behalf."""

from __future__ import annotations

import hashlib
import logging
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from comfyweb.catalog.forms import UploadedImage
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.substitution import image_input_from_settings, substitute
from comfyweb.core.logging import bind_job
from comfyweb.jobs.events import publish_job
from comfyweb.jobs.models import Job

logger = logging.getLogger(__name__)


def store_input_image(image: UploadedImage) -> str:
    """Keep the visitor's (already cleaned) image in storage under its content hash; return its name."""
    digest = hashlib.sha256(image.data).hexdigest()
    name = f"inputs/{digest[:2]}/{digest}.{image.info.extension}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(image.data))
    return name


def stored_image_path(image: UploadedImage) -> str:
    """A visitor's image as a path on this site (for CATALOG_IMAGE_INPUT = "url")."""
    return default_storage.url(store_input_image(image))


def recordable_values(values: dict) -> dict:
    """The visitor's values as JSON: images become their storage names."""
    recorded = {}
    for name, value in values.items():
        recorded[name] = {"image": store_input_image(value)} if isinstance(value, UploadedImage) else value
    return recorded


def check_queue_cap(*, owner, session_key: str, adding: int) -> None:
    active = Job.objects.filter(status__in=Job.ACTIVE_STATUSES)
    mine = active.filter(owner=owner) if owner is not None else active.filter(session_key=session_key)
    if session_key or owner is not None:
        if mine.count() + adding > settings.JOB_MAX_QUEUED_PER_VISITOR:
            raise ValidationError(
                _("You already have %(n)d images waiting. Please wait for them to finish.") % {"n": mine.count()},
                code="queue_full",
            )


def create_jobs(
    *,
    template: WorkflowTemplate,
    values: dict,
    quantity: int = 1,
    owner=None,
    session_key: str = "",
    client_ip: str | None = None,
) -> list[Job]:
    """Queue `quantity` jobs of `template` with cleaned form values; each gets its own random seeds."""
    if not 1 <= quantity <= 8:
        raise ValidationError(_("Choose how many images to make (1–8)."), code="quantity")
    check_queue_cap(owner=owner, session_key=session_key, adding=quantity)
    recorded = recordable_values(values)
    batch = uuid.uuid4() if quantity > 1 else None
    jobs = []
    image_to_input = image_input_from_settings(store=stored_image_path)
    with transaction.atomic():
        for _index in range(quantity):
            prompt, seeds = substitute(template.prompt, template.params, values, image_to_input=image_to_input)
            jobs.append(
                Job.objects.create(
                    owner=owner,
                    session_key=session_key,
                    client_ip=client_ip,
                    batch=batch,
                    template=template,
                    template_version=template.version,
                    template_title=template.title,
                    params=template.params,
                    values=recorded,
                    prompt=prompt,
                    seeds=seeds,
                )
            )
    for job in jobs:
        with bind_job(job.pk):
            logger.info("job queued: template %s, visitor %s", template.slug, owner or session_key[:8])
        publish_job(job)
    return jobs


def check_campaign_limits(
    *, template: WorkflowTemplate | None, campaign, owner, session_key: str, quantity: int
) -> None:
    """The campaign's time window, and the daily quota of the campaign visited (or, without one, of every
    campaign offering the template). Raises ValidationError, code "quota_exceeded" for the quota."""
    from comfyweb.campaigns import services as campaigns

    campaigns.check_window(campaign)
    if template is None:
        return
    for limiting in campaigns.quota_campaigns(template, campaign):
        try:
            campaigns.check_quota(limiting, user=owner, session_key=session_key, quantity=quantity)
        except ValidationError as exc:
            raise ValidationError(" ".join(exc.messages), code="quota_exceeded") from exc


def submit_jobs(
    *,
    template: WorkflowTemplate,
    values: dict,
    quantity: int,
    owner=None,
    session_key: str = "",
    client_ip: str | None = None,
    campaign=None,
) -> list[Job]:
    """A visitor's submission, from the template page or the REST API: the same window and quota rules.

    Raises ValidationError: code "quota_exceeded" (campaign daily quota), "queue_full" (too many waiting
    jobs), "quantity", or the campaign window's refusal.
    """
    check_campaign_limits(template=template, campaign=campaign, owner=owner, session_key=session_key, quantity=quantity)
    return create_jobs(
        template=template,
        values=values,
        quantity=quantity,
        owner=owner,
        session_key=session_key,
        client_ip=client_ip,
    )


def cancel_job(*, job: Job, by_staff: bool = False) -> Job:
    """Cancel a job: a queued one at once; a running one is interrupted by its runner."""
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED,
        finished_at=timezone.now(),
        cancel_requested=True,
        error=_("Cancelled."),
    )
    if not updated:
        Job.objects.filter(pk=job.pk, status__in=Job.ACTIVE_STATUSES).update(cancel_requested=True)
    job.refresh_from_db()
    publish_job(job)
    return job


def retry_job(*, job: Job, enforce_limits: bool = True) -> list[Job]:
    """Queue a fresh copy of a finished job (same prompt and values, new seeds when they were random).

    A visitor's retry counts like a new submission (queue cap, the daily quota of every campaign
    offering the template); operators retrying from the admin pass `enforce_limits=False`.
    """
    if enforce_limits:
        owner = job.owner if job.owner_id else None
        check_queue_cap(owner=owner, session_key=job.session_key, adding=1)
        check_campaign_limits(
            template=job.template, campaign=None, owner=owner, session_key=job.session_key, quantity=1
        )
    copy = Job.objects.create(
        owner=job.owner,
        session_key=job.session_key,
        client_ip=job.client_ip,
        template=job.template,
        template_version=job.template_version,
        template_title=job.template_title,
        params=job.params,
        values=job.values,
        prompt=job.prompt,
        seeds=job.seeds,
    )
    publish_job(copy)
    return [copy]
