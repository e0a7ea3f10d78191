"""The jobs admin: lists, search by id, read-only records, output thumbnails, cancel and retry."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from comfyweb.jobs.models import GpuBackend, Job, JobOutput
from comfyweb.jobs.services import create_jobs
from tests.jobs.conftest import photo

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/jobs/job/"


def queued(template, n: int = 1, session_key: str = "visitor-session") -> list[Job]:
    return create_jobs(template=template, values={"3.color": 1118481}, quantity=n, session_key=session_key)


def finished(job: Job, status: str = Job.Status.FAILED) -> Job:
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(status=status, started_at=now, finished_at=now, error="boom")
    job.refresh_from_db()
    return job


def run_action(staff, action: str, jobs: list[Job]):
    data = {"action": action, "_selected_action": [str(j.pk) for j in jobs]}
    return staff.post(CHANGELIST, data, follow=True)


def test_the_list_shows_status_template_backend_visitor_and_filters(staff, poster):
    backend = GpuBackend.objects.create(name="gpu-1", url="http://gpu-1:8189", slots=2)
    job = queued(poster)[0]
    Job.objects.filter(pk=job.pk).update(backend=backend, status=Job.Status.RUNNING)
    html = staff.get(CHANGELIST).content.decode()
    assert str(job.pk)[:8] in html
    assert poster.title in html and "gpu-1" in html and "running" in html
    assert "session visitor-…" in html
    for name in ("status", "template", "backend", "created_at"):
        assert f"?{name}" in html or f"{name}__" in html, f"no {name} filter"
    filtered = staff.get(CHANGELIST, {"status__exact": "queued"}).content.decode()
    assert str(job.pk)[:8] not in filtered


def test_searching_a_pasted_job_id_finds_that_job(staff, poster):
    wanted, other = queued(poster, 2)
    html = staff.get(CHANGELIST, {"q": str(wanted.pk)}).content.decode()
    assert str(wanted.pk)[:8] in html and str(other.pk)[:8] not in html
    by_session = staff.get(CHANGELIST, {"q": "visitor-session"}).content.decode()
    assert str(wanted.pk)[:8] in by_session and str(other.pk)[:8] in by_session


def test_a_job_page_is_read_only_with_pretty_json_and_output_thumbnails(staff, poster):
    job = finished(queued(poster)[0], Job.Status.SUCCEEDED)
    job.progress = {"": {"status": "succeeded", "prompt_id": "p-1"}, "5": {"value": 3, "max": 3}}
    job.save()
    output = JobOutput.objects.create(
        job=job, node_id="6", file=ContentFile(photo(), name="out.png"),
        thumbnail=ContentFile(photo(size=(16, 12)), name="thumb.png"), filename="poster_00001_.png",
    )  # fmt: skip
    response = staff.get(reverse("admin:jobs_job_change", args=[job.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<pre class="json"' in html
    assert "&quot;prompt_id&quot;: &quot;p-1&quot;" in html, "progress is shown indented, as JSON"
    assert "&quot;class_type&quot;: &quot;SolidMask&quot;" in html, "so is the prompt that ran"
    assert f'<img class="thumbnail" src="{output.thumbnail.url}"' in html
    assert "max-height" not in html, "the admin's CSP allows no inline style: ours come from a stylesheet"
    assert "css/admin-jobs.css" in html
    assert 'name="status"' not in html, "nothing is editable"
    assert staff.get("/admin/jobs/job/add/").status_code == 403


def test_the_cancel_action_cancels_waiting_jobs_through_the_service(staff, poster):
    waiting = queued(poster)[0]
    running = queued(poster)[0]
    Job.objects.filter(pk=running.pk).update(status=Job.Status.RUNNING)
    done = finished(queued(poster)[0], Job.Status.SUCCEEDED)
    html = run_action(staff, "cancel_jobs", [waiting, running, done]).content.decode()
    assert Job.objects.get(pk=waiting.pk).status == Job.Status.CANCELLED
    assert Job.objects.get(pk=running.pk).cancel_requested, "the runner interrupts the backend"
    assert Job.objects.get(pk=done.pk).status == Job.Status.SUCCEEDED
    assert "Cancelled 2 jobs." in html and "1 job had already finished." in html


def test_the_retry_action_queues_a_copy_of_finished_jobs(staff, poster):
    failed = finished(queued(poster)[0])
    waiting = queued(poster)[0]
    html = run_action(staff, "retry_jobs", [failed, waiting]).content.decode()
    copy = Job.objects.exclude(pk__in=[failed.pk, waiting.pk]).get()
    assert copy.status == Job.Status.QUEUED
    assert copy.prompt == failed.prompt and copy.session_key == failed.session_key
    assert "Queued 1 new job." in html and "1 job is still waiting or running" in html


def test_only_staff_reach_the_jobs_admin(client, poster):
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
