"""The operators' decisions on withheld images: release one to its visitor, or delete it for good."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from comfyweb.jobs.models import Job, JobOutput
from comfyweb.jobs.relay.publish import publish_job
from comfyweb.jobs.trust.purge import delete_files


def _tell_watchers(job_ids: set) -> None:
    for job in Job.objects.filter(pk__in=job_ids):
        publish_job(job)  # an open job page shows the released image (or stops saying one is withheld)


def release_outputs(outputs: QuerySet[JobOutput], *, by=None) -> int:
    """Show withheld images to their visitors; the number released."""
    withheld = outputs.filter(review=JobOutput.Review.WITHHELD)
    job_ids = set(withheld.values_list("job_id", flat=True))
    released = withheld.update(review=JobOutput.Review.RELEASED, reviewed_by=by, reviewed_at=timezone.now())
    _tell_watchers(job_ids)
    return released


def delete_outputs(outputs: QuerySet[JobOutput], *, by=None) -> int:
    """Delete withheld images for good (their files); the rows stay, marked removed, so the job says why."""
    withheld = list(outputs.filter(review=JobOutput.Review.WITHHELD))
    job_ids = {output.job_id for output in withheld}
    files = [name for output in withheld for name in (output.file.name, output.thumbnail.name)]
    JobOutput.objects.filter(pk__in=[output.pk for output in withheld]).update(
        review=JobOutput.Review.REMOVED, file="", thumbnail="", reviewed_by=by, reviewed_at=timezone.now()
    )
    delete_files(files)
    _tell_watchers(job_ids)
    return len(withheld)
