"""Reading jobs: what a visitor may see and the snapshot the browser shows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from uuid import UUID

from django.db.models import QuerySet
from django.urls import reverse

from comfyweb.comfy.progress import QUEUED, current_node, task_status
from comfyweb.core.visitors import (
    LOAD_SESSION,
    SessionVisitor,
    live_session_data,
    live_sessions_data,
    session_visitor,
    sessions_in_database,
)
from comfyweb.jobs.errors import CANCELLED, CODES, UNKNOWN, classify, error_record, visitor_error
from comfyweb.jobs.fair_queue import QUEUE_ORDER, QueueOrder
from comfyweb.jobs.models import Job

# What a job's page says it is doing (`stage` in the snapshot): the job's status, except that a job handed
# to a backend is only "painting" once that backend really started its prompt.
IN_LINE, WAITING_FOR_GPU, PAINTING = "in_line", "waiting_for_gpu", "painting"
NOT_STARTED_ON_BACKEND = (QUEUED, "downloading")  # the prompt waits in the backend's queue, or its inputs load


def visitor_jobs(*, user, session_key: str) -> QuerySet[Job]:
    """A visitor's own jobs: by account when logged in, else by session; without their prompts (lists, pages
    and downloads never show them: JobQuerySet.without_prompt)."""
    if user is not None and getattr(user, "is_authenticated", False):
        return Job.objects.without_prompt().filter(owner=user)
    if session_key:
        return Job.objects.without_prompt().filter(session_key=session_key, owner__isnull=True)
    return Job.objects.none()


def can_view(job: Job, *, user, session_key: str) -> bool:
    if user is not None and getattr(user, "is_staff", False):
        return True
    if job.owner_id is not None:
        return user is not None and getattr(user, "is_authenticated", False) and job.owner_id == user.pk
    return bool(session_key) and job.session_key == session_key


def queue_order(job_id, *, changed_at: float | None = None) -> QueueOrder:
    """The dispatcher's order of the queue, computed again when the job was queued after it was read."""
    order = QUEUE_ORDER.get(changed_at=changed_at)
    if str(job_id) not in order.places and Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).exists():
        order = QUEUE_ORDER.get(changed_at=time.time())
    return order


def queued_place(job_id, *, changed_at: float | None = None) -> tuple[int | None, int | None]:
    """(place, wait estimate in seconds) of a queued job in the dispatcher's order: place 1 is next.

    (None, None) when it is not in the queue (any more).
    """
    order = queue_order(job_id, changed_at=changed_at)
    key = str(job_id)
    return order.places.get(key), order.waits.get(key)


def places_of(order: QueueOrder, job_ids) -> dict[str, dict]:
    """The places and waits of several jobs from one reading of the queue (None: not waiting in it)."""
    return {str(key): {"place": order.places.get(str(key)), "wait": order.waits.get(str(key))} for key in job_ids}


def owner_waiting_ids(job: Job, order: QueueOrder) -> list[str]:
    """The visitor's jobs waiting in the queue with this one, from the reading of the queue that gives their
    places (no query of its own): a page shows all their places from one reading."""
    return (order.owners.get(job.owner_key) if job.owner_key else None) or [str(job.pk)]


def watched_jobs() -> QuerySet[Job]:
    """Jobs as a WebSocket connect reads them: with template and owner, without the prompt, and unordered.

    Job's default ordering costs each read a compiled ORDER BY (~0.6 ms of CPU: Django hashes the ordering
    expressions through inspect.signature), for rows looked up by key.
    """
    return Job.objects.without_prompt().select_related("template", "owner").order_by()


def job_for_watcher(job_id, session_key: str) -> tuple[Job | None, SessionVisitor]:
    """The job a WebSocket asks for, with its template, its owner and the socket's session: one query.

    The visitor is who the session cookie names (comfyweb.core.visitors.session_visitor): a logged-in
    owner costs no query of their own; staff watching someone else's job, one more.
    """
    jobs = watched_jobs().filter(pk=job_id)
    in_database = sessions_in_database() and bool(session_key)
    if in_database:
        jobs = jobs.annotate(watcher_session=live_session_data(session_key))
    job = next(iter(jobs[:1]), None)  # not first(): it would order the unordered read by key again
    if job is None:
        return None, SessionVisitor("")
    stored = job.watcher_session if in_database else LOAD_SESSION
    return job, session_visitor(session_key, stored, known_users=[job.owner] if job.owner_id else [])


def jobs_for_watchers(asks: Sequence[tuple[UUID, str]]) -> list[tuple[Job | None, SessionVisitor]]:
    """job_for_watcher for many sockets at once, in the order asked: the jobs in one query, the sessions in one
    more (a single socket: job_for_watcher's one query)."""
    if len(asks) == 1:
        return [job_for_watcher(*asks[0])]
    jobs = watched_jobs().in_bulk({job_id for job_id, _ in asks})
    stored = live_sessions_data(key for _, key in asks) if sessions_in_database() else None
    found = []
    for job_id, session_key in asks:
        job = jobs.get(job_id)
        if job is None:
            found.append((None, SessionVisitor("")))
            continue
        data = LOAD_SESSION if stored is None else stored.get(session_key)
        found.append((job, session_visitor(session_key, data, known_users=[job.owner] if job.owner_id else [])))
    return found


def stage(job: Job) -> str:
    """In line, waiting for a GPU, painting, or the final status.

    A claimed job waits for a GPU until its backend starts the prompt: ComfyUI's `execution_start`
    (or the agent's `running` status) sets the progress object's status, which a backend's own
    queue or an agent's input downloads keep at `queued` / `downloading`.
    """
    if job.status == Job.Status.QUEUED:
        return IN_LINE
    if job.status == Job.Status.DISPATCHED:
        return WAITING_FOR_GPU
    if job.status == Job.Status.RUNNING:
        started = bool(job.progress) and task_status(job.progress) not in NOT_STARTED_ON_BACKEND
        return PAINTING if started else WAITING_FOR_GPU
    return job.status


def stored_error(job: Job) -> dict | None:
    """The error record of a failed or cancelled job (records stored before codes existed are classified)."""
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
        return None
    detail = job.error_detail if isinstance(job.error_detail, dict) else None
    if detail is not None and detail.get("code") in CODES:
        return detail
    if detail is not None:
        return classify(detail)
    return error_record(CANCELLED if job.status == Job.Status.CANCELLED else UNKNOWN, message=job.error)


def state_time(job: Job) -> float:
    """When the state a snapshot shows was current (seconds since the epoch): its latest recorded moment.

    Watchers compare it to drop an update older than what they already show. A job sent back to
    the queue waits until `not_before`, later than anything its last run published.
    """
    moments = [job.created_at, job.dispatched_at, job.started_at, job.heartbeat_at, job.not_before, job.finished_at]
    return max((moment.timestamp() for moment in moments if moment is not None), default=0.0)


def visible_outputs(job: Job, outputs: list | None = None) -> list:
    """The outputs a visitor may see: every one but those withheld for the operators' review.

    `outputs`: the job's outputs when already read (one read for the visible ones and the withheld count)."""
    return [output for output in (job.outputs.all() if outputs is None else outputs) if not output.is_withheld]


def withheld_count(job: Job, outputs: list | None = None) -> int:
    return sum(1 for output in (job.outputs.all() if outputs is None else outputs) if output.is_withheld)


def output_dicts(job: Job, outputs: list | None = None) -> list[dict]:
    shown = []
    for output in visible_outputs(job, outputs):
        shown.append(
            {
                "url": output.file.url,
                "thumbnail_url": output.thumbnail.url if output.thumbnail else output.file.url,
                "download_url": reverse("api:job-output", kwargs={"pk": job.pk, "output_id": output.pk}),
                "width": output.width,
                "height": output.height,
            }
        )
    return shown


def node_names(job: Job) -> dict:
    """A prompt to read the running node's title and type from, without loading the job's own when it was
    left out (JobQuerySet.without_prompt): its template's, when the job runs that version (the same nodes;
    the job's copy differs in values only). Otherwise the job's, loaded now."""
    if "prompt" in job.get_deferred_fields() and job.template_id:
        template = job.template
        if template.version == job.template_version and "prompt" not in template.get_deferred_fields():
            return template.prompt
    return job.prompt


def job_snapshot(job: Job, *, at: float | None = None) -> dict:
    """The job as the browser and the REST API see it; `at`: when this state was current (see state_time).

    A waiting job also carries `places`: the place and wait of each of its visitor's waiting jobs, from
    the same reading of the queue (`places_at`), so a page never shows two of them at one place.
    A failed or cancelled job carries `retried_as`: the job that tried it again, if any.
    """
    position = wait = places_at = None
    places: dict[str, dict] = {}
    if job.status == Job.Status.QUEUED:
        order = queue_order(job.pk)
        places = places_of(order, owner_waiting_ids(job, order))
        position, wait, places_at = order.places.get(str(job.pk)), order.waits.get(str(job.pk)), order.computed_at
    retried_as = None
    if job.status in (Job.Status.FAILED, Job.Status.CANCELLED):
        retried_as = Job.objects.filter(retry_of=job.pk).values_list("pk", flat=True).first()
    outputs = list(job.outputs.all()) if job.status == Job.Status.SUCCEEDED else []
    nodes = {k: {"value": v.get("value", 0), "max": v.get("max", 0)} for k, v in (job.progress or {}).items() if k}
    current = current_node(job.progress, node_names(job)) if job.status == Job.Status.RUNNING and job.progress else None
    return {
        "id": str(job.pk),
        "status": job.status,
        "stage": stage(job),
        "percent": round(job.percent, 1),
        "queue_position": position,
        "estimate_seconds": wait,
        "places": places,
        "places_at": places_at,
        "current": current,
        "nodes": nodes,
        "error": visitor_error(stored_error(job)),
        "outputs": output_dicts(job, outputs),
        "withheld": withheld_count(job, outputs),
        "template": job.template.slug if job.template_id else None,
        "title": job.template_title,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "batch": str(job.batch) if job.batch else None,
        "retried_as": str(retried_as) if retried_as else None,
        "seeds": job.seeds,
        "at": at if at is not None else state_time(job),
    }
