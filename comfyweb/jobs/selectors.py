"""Reading jobs: what a visitor may see and the snapshot the browser shows."""

from __future__ import annotations

import threading
import time

from django.core.cache import cache
from django.db.models import Avg, F, QuerySet, Sum

from comfyweb.jobs.models import GpuBackend, Job


def visitor_jobs(*, user, session_key: str) -> QuerySet[Job]:
    """A visitor's own jobs: by account when logged in, else by session."""
    if user is not None and getattr(user, "is_authenticated", False):
        return Job.objects.filter(owner=user)
    if session_key:
        return Job.objects.filter(session_key=session_key, owner__isnull=True)
    return Job.objects.none()


def can_view(job: Job, *, user, session_key: str) -> bool:
    if user is not None and getattr(user, "is_staff", False):
        return True
    if job.owner_id is not None:
        return user is not None and getattr(user, "is_authenticated", False) and job.owner_id == user.pk
    return bool(session_key) and job.session_key == session_key


QUEUE_ORDER_TTL = 1.0  # seconds one computed order serves every waiting page of this process


class _QueueOrder:
    """The fair order of the whole queue, computed at most once per TTL per process.

    Every waiting page asks for its place every few seconds; one query and one pass over the
    queue then serve them all (a per-process memo: nothing to serialise, unlike the cache).
    """

    def __init__(self) -> None:
        self.computed_at = -QUEUE_ORDER_TTL
        self.positions: dict[str, int] = {}
        self.lock = threading.Lock()

    def forget(self) -> None:
        """The next `get` computes the order again."""
        self.computed_at = float("-inf")

    def get(self, *, fresh: bool = False) -> dict[str, int]:
        with self.lock:
            if fresh or time.monotonic() - self.computed_at >= QUEUE_ORDER_TTL:
                self.positions = self._compute()
                self.computed_at = time.monotonic()
            return self.positions

    @staticmethod
    def _compute() -> dict[str, int]:
        from comfyweb.jobs.dispatcher import Candidate, fair_order, owner_key

        rows = (
            Job.objects.filter(status=Job.Status.QUEUED)
            .order_by("created_at")
            .values_list("id", "owner_id", "session_key", "client_ip")
        )
        ordered = fair_order([Candidate(str(r[0]), owner_key(r[1], r[2], r[3])) for r in rows])
        return {candidate.job_id: place for place, candidate in enumerate(ordered, start=1)}


QUEUE_ORDER = _QueueOrder()


def queued_place(job_id) -> int | None:
    """A queued job's place in the order the dispatcher takes jobs (round-robin between visitors): 1 is next.

    None when it is not in the queue (any more). A job queued since the order was computed makes
    it be computed again.
    """
    place = QUEUE_ORDER.get().get(str(job_id))
    if place is None and Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).exists():
        place = QUEUE_ORDER.get(fresh=True).get(str(job_id))
    return place


def queue_position(job: Job) -> int | None:
    """The job's place in line (see queued_place); None once it has left the queue."""
    if job.status != Job.Status.QUEUED:
        return None
    return queued_place(job.pk)


ESTIMATE_INPUTS_TTL = 30  # seconds the average run time and slot count are reused (every waiting page asks)


def _estimate_inputs() -> tuple[float | None, int]:
    recent = Job.objects.filter(status=Job.Status.SUCCEEDED, started_at__isnull=False).order_by("-finished_at")[:50]
    average = recent.aggregate(avg=Avg(F("finished_at") - F("started_at")))["avg"]
    slots = GpuBackend.objects.filter(enabled=True).aggregate(s=Sum("slots"))["s"] or 1
    return (average.total_seconds() if average is not None else None), slots


def estimate_seconds(position: int | None) -> int | None:
    """Rough wait: position × recent average run time ÷ slots."""
    if position is None:
        return None
    average, slots = cache.get_or_set("jobs:estimate-inputs", _estimate_inputs, ESTIMATE_INPUTS_TTL)
    if average is None:
        return None
    return int(average * position / slots) + 1


def output_dicts(job: Job) -> list[dict]:
    from django.urls import reverse

    outputs = []
    for output in job.outputs.all():
        outputs.append(
            {
                "url": output.file.url,
                "thumbnail_url": output.thumbnail.url if output.thumbnail else output.file.url,
                "download_url": reverse("jobs_api:job-output", kwargs={"pk": job.pk, "output_id": output.pk}),
                "width": output.width,
                "height": output.height,
            }
        )
    return outputs


def job_snapshot(job: Job) -> dict:
    """The job as the browser and the REST API see it (see the jobs contract)."""
    from comfyweb.comfy.progress import current_node

    position = queue_position(job)
    nodes = {k: {"value": v.get("value", 0), "max": v.get("max", 0)} for k, v in (job.progress or {}).items() if k}
    current = current_node(job.progress, job.prompt) if job.status == Job.Status.RUNNING and job.progress else None
    return {
        "id": str(job.pk),
        "status": job.status,
        "percent": round(job.percent, 1),
        "queue_position": position,
        "estimate_seconds": estimate_seconds(position),
        "current": current,
        "nodes": nodes,
        "error": job.error,
        "outputs": output_dicts(job) if job.status == Job.Status.SUCCEEDED else [],
        "template": job.template.slug if job.template_id else None,
        "title": job.template_title,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "batch": str(job.batch) if job.batch else None,
        "seeds": job.seeds,
    }
