"""What a job's card says: its label, its status line and the strings its live updates need.

The card is drawn by one template (campaigns/_job.html), on the page and as the fragment a page asks
for when a job reaches a new end state (`card` view). Between those, the page's script only changes the
status line and the bar, with the words given here (`job_strings`), so the server-drawn line and the
live one say the same.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from comfyweb.campaigns.phases import phase_rules_json, progress_line
from comfyweb.jobs.models import Job
from comfyweb.jobs.selectors import IN_LINE, PAINTING, WAITING_FOR_GPU, job_snapshot

# Every line a card's status may take; the page's script reads them from the page (campaigns/_job_strings.html).
STATUS_WORDS = {
    "in_line": gettext_lazy("Waiting in line…"),
    "place": gettext_lazy("Waiting in line: number %s"),
    "estimate": gettext_lazy("about %s s"),
    "waiting_for_gpu": gettext_lazy("Waiting for a GPU…"),
    "succeeded": gettext_lazy("Done!"),
    "cancelled": gettext_lazy("Cancelled."),
    "failed": gettext_lazy("Sorry, something went wrong while making this image."),
}
# The line above a batch: which image is being painted and how many wait.
BATCH_WORDS = {
    "now_painting": gettext_lazy("Painting now: %s"),
    "now_waiting": gettext_lazy("%s waiting"),
    "now_done": gettext_lazy("%s done"),
}


def image_label(index: int) -> str:
    return _("Image %(n)s") % {"n": index}


def status_line(snapshot: dict) -> str:
    """The card's status line: its place in line and wait, waiting for a GPU, the painting phase, or the end."""
    stage = snapshot.get("stage")
    if stage == IN_LINE:
        place, wait = snapshot.get("queue_position"), snapshot.get("estimate_seconds")
        text = str(STATUS_WORDS["place"]) % place if place else str(STATUS_WORDS["in_line"])
        return f"{text} · {STATUS_WORDS['estimate'] % wait}" if place and wait else text
    if stage == WAITING_FOR_GPU:
        return str(STATUS_WORDS["waiting_for_gpu"])
    if stage == PAINTING:
        return progress_line(snapshot)
    return str(STATUS_WORDS.get(stage, STATUS_WORDS["failed"]))


def card_snapshot(job: Job, *, label: str = "", index: int | None = None) -> dict:
    """A job's snapshot plus what its card shows: its label (a batch's "Image 2") and its status line."""
    snapshot = job_snapshot(job)
    snapshot["label"] = label or (image_label(index) if index else "")
    snapshot["status_line"] = status_line(snapshot)
    snapshot["final"] = job.status in Job.FINAL_STATUSES
    snapshot["retryable"] = job.status in (Job.Status.FAILED, Job.Status.CANCELLED) and not snapshot["retried_as"]
    return snapshot


def batch_index(job: Job) -> int | None:
    """The job's number in its batch ("Image 2"), in the order the batch page shows them."""
    if not job.batch:
        return None
    ids = list(Job.objects.filter(batch=job.batch).order_by("created_at", "id").values_list("pk", flat=True))
    return ids.index(job.pk) + 1 if job.pk in ids else None


def queue_label(job: Job) -> str:
    """A card's label on "my queue", where batches mix: the template, and which image of its batch."""
    title = job.template.i18n.title if job.template is not None else job.template_title
    index = batch_index(job)
    return f"{title} · {image_label(index)}" if index else title


def job_strings() -> dict:
    """The words of the page's script, in the visitor's language (data attributes of the page)."""
    words = {key: str(word) for key, word in {**STATUS_WORDS, **BATCH_WORDS}.items()}
    return {**words, "phases": phase_rules_json()}
