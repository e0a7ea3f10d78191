"""The fair queue: each job gets its place in line when it is queued, and keeps it.

Start-time fair queueing: a job's tag is max(the queue's virtual time, its owner's last tag) + 1,
and queued jobs start in tag order (ties: the older first). A visitor who queues 8 jobs takes tags
n+1 … n+8; a visitor who comes after gets the front tag, so waits behind at most one job of each
other visitor, never behind a whole burst. Because tags are fixed when a job is queued, places do
not flip as slots free one at a time: a place only moves up (jobs ahead leave) or, when a new
visitor's first job is placed fairly ahead, down by one.

The virtual time is the tag of the job at the head of the queue, less one (or, with nothing
waiting, the highest tag given so far). A job that goes back to the queue (a retry after a lost
backend) keeps its tag, so it is not sent to the back of the line.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from django.db.models import Avg, F, Max, Min, Sum

from comfyweb.jobs.models import GpuBackend, Job

QUEUE_ORDER_TTL = 1.0  # seconds one computed order may serve pages when nobody said the queue changed
RUN_TIME_SAMPLE = 20  # recent successful runs of a template that make its measured run time


def next_tag(*, virtual_time: int, owner_last_tag: int) -> int:
    """The tag of an owner's next job."""
    return max(virtual_time, owner_last_tag) + 1


def virtual_time() -> int:
    """The tag just before the head of the queue; with nothing queued, the highest tag so far."""
    head = Job.objects.filter(status=Job.Status.QUEUED).aggregate(tag=Min("fair_tag"))["tag"]
    if head is not None:
        return head - 1
    return Job.objects.aggregate(tag=Max("fair_tag"))["tag"] or 0


def tags_for(owner_key: str, count: int) -> list[int]:
    """Tags for `count` new jobs of one owner; call inside that owner's lock (jobs.limits.owner_lock)."""
    last = Job.objects.filter(owner_key=owner_key).aggregate(tag=Max("fair_tag"))["tag"] or 0
    first = next_tag(virtual_time=virtual_time(), owner_last_tag=last)
    return list(range(first, first + count))


def queued_in_order():
    """The queued jobs in the order the dispatcher takes them."""
    return Job.objects.filter(status=Job.Status.QUEUED).order_by("fair_tag", "created_at", "id")


@dataclass
class QueueOrder:
    """Every queued job's place (1 is next) and its wait estimate, from one read of the queue."""

    places: dict[str, int] = field(default_factory=dict)
    waits: dict[str, int | None] = field(default_factory=dict)
    owners: dict[str, list[str]] = field(default_factory=dict)  # each visitor's queued jobs (owner key -> ids)
    computed_at: float = 0.0  # time.time() when the queue was read: a page keeps the places of the newest reading


def run_times() -> dict[int | None, float]:
    """Measured seconds per run of each template (recent successful runs), and None: all templates."""
    recent = Job.objects.filter(status=Job.Status.SUCCEEDED, started_at__isnull=False, finished_at__isnull=False)
    measured: dict[int | None, float] = {}
    overall = recent.order_by("-finished_at")[:50].aggregate(avg=Avg(F("finished_at") - F("started_at")))["avg"]
    if overall is not None:
        measured[None] = overall.total_seconds()
    for template_id in set(
        Job.objects.filter(status=Job.Status.QUEUED, template__isnull=False).values_list("template_id", flat=True)
    ):
        sample = recent.filter(template_id=template_id).order_by("-finished_at")[:RUN_TIME_SAMPLE]
        average = sample.aggregate(avg=Avg(F("finished_at") - F("started_at")))["avg"]
        if average is not None:
            measured[template_id] = average.total_seconds()
    return measured


def compute_order() -> QueueOrder:
    """Places, and waits: the run times of the jobs ahead spread over the slots, plus the job's own run."""
    order = QueueOrder(computed_at=time.time())
    rows = list(queued_in_order().values_list("id", "template_id", "owner_key"))
    slots = GpuBackend.objects.filter(enabled=True).aggregate(s=Sum("slots"))["s"] or 1
    measured = run_times() if rows else {}
    ahead = 0.0
    known = True
    for place, (job_id, template_id, owner_key) in enumerate(rows, start=1):
        own = measured.get(template_id, measured.get(None))
        key = str(job_id)
        order.places[key] = place
        if owner_key:
            order.owners.setdefault(owner_key, []).append(key)
        known = known and own is not None
        order.waits[key] = int(ahead / slots + own) + 1 if known else None
        ahead += own or 0.0
    return order


class SharedQueueOrder:
    """The order of the whole queue, computed once and shared by every page of this process.

    It is computed again when someone says the queue changed after it was computed (the relay's
    queue event carries that moment), and at the latest after QUEUE_ORDER_TTL.
    """

    def __init__(self) -> None:
        self.computed_at = float("-inf")
        self.order = QueueOrder()
        self.lock = threading.Lock()

    def forget(self) -> None:
        self.computed_at = float("-inf")

    def computed_since(self, changed_at: float) -> QueueOrder | None:
        """The order when it was computed after `changed_at` (no lock, no query: safe in an event loop)."""
        return self.order if self.computed_at > changed_at else None

    def get(self, *, changed_at: float | None = None) -> QueueOrder:
        """The order; `changed_at` (time.time()) asks for one computed after that moment."""
        with self.lock:
            stale = time.time() - self.computed_at >= QUEUE_ORDER_TTL
            if stale or (changed_at is not None and changed_at >= self.computed_at):
                self.order = compute_order()
                self.computed_at = self.order.computed_at
            return self.order


QUEUE_ORDER = SharedQueueOrder()
