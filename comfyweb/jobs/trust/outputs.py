"""Each image a job made, before anyone sees it: checked (moderation), labelled (visible and implicit labels,
C2PA credentials when configured), and marked passed or withheld for the operators' review.

Runs in the worker when a job finishes, off its event loop (jobs.runners.results.finish), on the job's
campaign policy (jobs.trust.policy). Every image is decoded once.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from PIL import Image

from comfyweb.jobs.models import Job, JobOutput
from comfyweb.jobs.trust.credentials import credentials_enabled, sign_image
from comfyweb.jobs.trust.labels import draw_label
from comfyweb.jobs.trust.metadata import FORMATS, encode_labelled
from comfyweb.jobs.trust.moderation import OUTPUT, Verdict, configured_checks, moderate_image
from comfyweb.jobs.trust.policy import TrustPolicy, policy_for

logger = logging.getLogger(__name__)


@dataclass
class Reviewed:
    """How one output went through: JobOutput.review and what the checks found."""

    review: str = JobOutput.Review.PASSED
    detail: dict = field(default_factory=dict)


def prepare_outputs(job: Job, images: list[tuple[dict, bytes]]) -> list[Reviewed]:
    """Check and label `images` in place (their bytes, and a file name when the format changes)."""
    policy = policy_for(job.campaign)
    reviews = []
    for index, (ref, data) in enumerate(images):
        try:
            new_ref, new_data, reviewed = prepare_one(job, ref, data, policy)
        except Exception:
            # Never a reason to run the job again on a GPU: the image is kept, unlabelled, for an operator to look at.
            logger.exception("output %s of job %s could not be checked or labelled", ref.get("filename"), job.pk)
            detail = Verdict(blocked=True, reasons=("could not be checked or labelled",), error=True).as_detail()
            new_ref, new_data, reviewed = ref, data, Reviewed(JobOutput.Review.WITHHELD, detail)
        images[index] = (new_ref, new_data)
        reviews.append(reviewed)
    return reviews


def _prepare_in_pool_thread(job: Job, images: list[tuple[dict, bytes]]) -> list[Reviewed]:
    try:
        return prepare_outputs(job, images)
    finally:
        connections.close_all()  # this pool thread's own connections


async def aprepare_outputs(job: Job, images: list[tuple[dict, bytes]]) -> list[Reviewed]:
    """`prepare_outputs` in a pool thread: the checks take time, and neither the worker's loop nor its
    database thread waits for them."""
    if not images:
        return []
    return await sync_to_async(_prepare_in_pool_thread, thread_sensitive=False)(job, images)


def _unreadable(ref: dict) -> Reviewed:
    """An output Pillow cannot open (a video): it cannot be checked, so it waits for review when checks are on."""
    if configured_checks() and settings.MODERATION_FAIL_CLOSED:
        detail = Verdict(blocked=True, reasons=("not a picture the checks can read",), error=True).as_detail()
        return Reviewed(JobOutput.Review.WITHHELD, detail)
    return Reviewed()


def prepare_one(job: Job, ref: dict, data: bytes, policy: TrustPolicy) -> tuple[dict, bytes, Reviewed]:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            fmt, animated = opened.format or "", getattr(opened, "is_animated", False)
            image = opened.copy()
    except (OSError, ValueError, Image.DecompressionBombError):
        return ref, data, _unreadable(ref)
    verdict = moderate_image(image, stage=OUTPUT, threshold=policy.output_threshold)
    reviewed = Reviewed(JobOutput.Review.WITHHELD if verdict.blocked else JobOutput.Review.PASSED, verdict.as_detail())
    if verdict.blocked:
        logger.warning("output %s of job %s withheld for review: %s", ref.get("filename"), job.pk, verdict.reasons)
    if animated:
        logger.warning("output %s of job %s is animated: stored without labels", ref.get("filename"), job.pk)
        return ref, data, reviewed
    if fmt not in FORMATS:  # e.g. a BMP or TIFF: stored as PNG, which carries the labels
        fmt = "PNG"
        ref = {**ref, "filename": str(PurePosixPath(ref.get("filename") or "output").with_suffix(".png"))}
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    labelled = encode_labelled(draw_label(image, policy.label), fmt, job.pk)
    if credentials_enabled():
        try:
            labelled = sign_image(labelled, FORMATS[fmt], job.pk)
        except Exception:
            logger.exception("C2PA signing failed for job %s: stored without content credentials", job.pk)
    return ref, labelled, reviewed
