"""Creating and cancelling jobs: the only places that change a job on a visitor's behalf."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import replace

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from comfyweb.catalog.forms import UploadedImage
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.substitution import image_input_from_settings, substitute
from comfyweb.core.logging import bind_job
from comfyweb.jobs.errors import CANCELLED, error_record, stored_fields
from comfyweb.jobs.fair_queue import tags_for
from comfyweb.jobs.limits import (
    SubmissionRules,
    check_queue_cap,
    check_rules,
    rules_for,
    visitor_identity,
    visitor_lock,
)
from comfyweb.jobs.models import Job, StoredInput
from comfyweb.jobs.relay.publish import publish_job, publish_queue_changed
from comfyweb.jobs.trust.consent import ConsentTerms, check_consent
from comfyweb.jobs.trust.inputs import check_inputs
from comfyweb.jobs.trust.policy import policy_for

logger = logging.getLogger(__name__)

NO_RULES = SubmissionRules()


def quantity_message() -> str:
    return _("Choose how many images to make (1–%(max)d).") % {"max": settings.JOB_MAX_QUANTITY}


def store_input_image(image: UploadedImage) -> str:
    """Keep the visitor's (already cleaned) image in storage under its content hash; return its name."""
    digest = hashlib.sha256(image.data).hexdigest()
    name = f"inputs/{digest[:2]}/{digest}.{image.info.extension}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(image.data))
    StoredInput.objects.update_or_create(name=name, defaults={"stored_at": timezone.now()})  # for the purge
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


def create_jobs(
    *,
    template: WorkflowTemplate,
    values: dict,
    quantity: int = 1,
    owner=None,
    session_key: str = "",
    client_ip: str | None = None,
    rules: SubmissionRules = NO_RULES,
    consented: bool = False,
) -> list[Job]:
    """Queue `quantity` jobs of `template` with cleaned form values; each gets its own random seeds.

    Before anything is stored: the consent the `rules` ask for (code "consent_required") and the
    moderation of the visitor's photos and text (a ValidationError keyed by field). The queue caps and
    the `rules` are checked, and the jobs created, under locks on the visitor and their address
    (jobs.limits.visitor_lock): concurrent submissions cannot together pass the limits.
    """
    if not 1 <= quantity <= settings.JOB_MAX_QUANTITY:
        raise ValidationError(quantity_message(), code="quantity")
    consent_version = check_consent(rules.consent, values, consented)
    owner_key = visitor_identity(owner=owner, session_key=session_key, client_ip=client_ip)
    # The moderation costs a detector run per photo: a visitor already at a cap is refused before it
    # (the checks that count are the ones under the lock below).
    check_queue_cap(owner_key, adding=quantity, client_ip=client_ip)
    check_inputs(values, threshold=policy_for(rules.campaign).input_threshold)
    recorded = recordable_values(values)
    batch = uuid.uuid4() if quantity > 1 else None
    image_to_input = image_input_from_settings(store=stored_image_path)
    prepared = [
        substitute(template.prompt, template.params, values, image_to_input=image_to_input) for _ in range(quantity)
    ]
    with visitor_lock(owner_key, client_ip):
        check_queue_cap(owner_key, adding=quantity, client_ip=client_ip)
        check_rules(rules, owner_key=owner_key, quantity=quantity, client_ip=client_ip)
        tags = tags_for(owner_key, quantity)
        jobs = [
            Job.objects.create(
                owner=owner,
                session_key=session_key,
                client_ip=client_ip,
                owner_key=owner_key,
                campaign=rules.campaign,
                fair_tag=tag,
                batch=batch,
                template=template,
                template_version=template.version,
                template_title=template.title,
                params=template.params,
                values=recorded,
                prompt=prompt,
                seeds=seeds,
                consent_version=consent_version,
                consent_at=timezone.now() if consent_version else None,
            )
            for tag, (prompt, seeds) in zip(tags, prepared, strict=True)
        ]
    for job in jobs:
        with bind_job(job.pk):
            logger.info("job queued: template %s, visitor %s", template.slug, owner_key[:20])
        publish_job(job)
    publish_queue_changed()
    return jobs


def submit_jobs(
    *,
    template: WorkflowTemplate,
    values: dict,
    quantity: int,
    owner=None,
    session_key: str = "",
    client_ip: str | None = None,
    rules: SubmissionRules | None = None,
    consented: bool = False,
) -> list[Job]:
    """A visitor's submission, from the template page or the REST API: the same window, quota and consent rules.

    `rules` are the campaign's (see jobs.limits); None takes the rules for submissions without a campaign.
    A template that asks for consent gets the site's consent terms when the rules name none.
    Raises ValidationError: code "quota_exceeded" (campaign daily quota), "queue_full" (too many waiting
    jobs of this visitor), "address_full" (of this address), "quantity", "consent_required", "refused"
    (e.g. the campaign's window is closed), or one keyed by field when the moderation refuses a photo or a text.
    """
    rules = rules_for(template) if rules is None else rules
    if rules.consent is None and template.requires_consent:
        rules = replace(rules, consent=ConsentTerms())
    return create_jobs(
        template=template,
        values=values,
        quantity=quantity,
        owner=owner,
        session_key=session_key,
        client_ip=client_ip,
        rules=rules,
        consented=consented,
    )


def _cancel(job: Job, *, by_staff: bool = False) -> bool:
    """Cancel one job without telling anyone; True when it left the queue (it had not started)."""
    record = error_record(CANCELLED, detail="by staff" if by_staff else "by the visitor")
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED,
        finished_at=timezone.now(),
        cancel_requested=True,
        **stored_fields(record),
    )
    if not updated:
        Job.objects.filter(pk=job.pk, status__in=Job.ACTIVE_STATUSES).update(cancel_requested=True)
    return bool(updated)


def cancel_job(*, job: Job, by_staff: bool = False) -> Job:
    """Cancel a job: a queued one at once; a running one is interrupted by its runner."""
    left_queue = _cancel(job, by_staff=by_staff)
    job.refresh_state()
    publish_job(job)
    if left_queue:
        publish_queue_changed()
    return job


def cancel_all(jobs: QuerySet[Job]) -> int:
    """Cancel every waiting or running job of `jobs` (a visitor's own, from jobs.selectors.visitor_jobs).

    Returns how many were asked to stop; the queue's watchers are told once.
    """
    active = list(jobs.filter(status__in=Job.ACTIVE_STATUSES).without_prompt().select_related("template"))
    left_queue = [_cancel(job) for job in active]
    for job in active:
        job.refresh_state()
        publish_job(job)
    if any(left_queue):
        publish_queue_changed()
    return len(active)


def retry_job(*, job: Job, enforce_limits: bool = True) -> list[Job]:
    """Queue a fresh copy of a finished job (same prompt and values, in the same batch).

    A job is tried again at most once: a second retry of it (a double click, a second tab) creates
    nothing and returns []. A visitor's retry counts like a new submission (queue caps, the daily
    quota of every campaign offering the template); operators retrying from the admin pass
    `enforce_limits=False`. A job whose photos the retention purge deleted cannot run again (code "refused").
    """
    if job.inputs_purged_at is not None:
        raise ValidationError(
            _("The photos of this job have been deleted (see the privacy statement): make it again with new ones."),
            code="refused",
        )
    owner_key = job.owner_key or visitor_identity(
        owner=job.owner if job.owner_id else None, session_key=job.session_key, client_ip=job.client_ip
    )
    try:
        with visitor_lock(owner_key, job.client_ip):
            if Job.objects.filter(retry_of=job.pk).exists():
                return []
            if enforce_limits:
                check_queue_cap(owner_key, adding=1, client_ip=job.client_ip)
                check_rules(rules_for(job.template), owner_key=owner_key, quantity=1, client_ip=job.client_ip)
            [tag] = tags_for(owner_key, 1)
            copy = Job.objects.create(
                owner=job.owner,
                session_key=job.session_key,
                client_ip=job.client_ip,
                owner_key=owner_key,
                campaign=job.campaign,
                fair_tag=tag,
                batch=job.batch,
                retry_of=job,
                template=job.template,
                template_version=job.template_version,
                template_title=job.template_title,
                params=job.params,
                values=job.values,
                prompt=job.prompt,
                seeds=job.seeds,
                consent_version=job.consent_version,  # the same photos, under the consent given for them
                consent_at=job.consent_at,
            )
    except IntegrityError:  # another retry of the same job won the race (the one-to-one refused this one)
        return []
    publish_job(copy)
    publish_job(job)  # its card no longer offers to try again
    publish_queue_changed()
    return [copy]
