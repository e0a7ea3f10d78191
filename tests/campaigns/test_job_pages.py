from __future__ import annotations

import uuid

from comfyweb.jobs.models import Job


def test_running_job_page_shows_progress_and_refreshes_without_javascript(client, db):
    job = Job.objects.create(template_title="T", status=Job.Status.RUNNING, percent=42)
    html = client.get(f"/jobs/{job.id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'aria-valuenow="42"' in html
    assert '<noscript><meta http-equiv="refresh"' in html
    assert f'data-job-id="{job.id}"' in html


def test_finished_job_page_stops_refreshing(client, db):
    job = Job.objects.create(template_title="T", status=Job.Status.FAILED, error="boom")
    html = client.get(f"/jobs/{job.id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "http-equiv" not in html
    assert "something went wrong" in html


def test_batch_page_puts_every_job_of_the_batch_in_one_grid(client, db):
    batch = uuid.uuid4()
    jobs = [Job.objects.create(template_title="T", batch=batch) for _ in range(3)]
    Job.objects.create(template_title="other")
    html = client.get(f"/batches/{batch}/").content.decode()
    assert html.count("data-job-id=") == 3
    assert all(str(job.id) in html for job in jobs)


def test_unknown_batch_is_not_found(client, db):
    assert client.get(f"/batches/{uuid.uuid4()}/").status_code == 404


def test_my_creations_shows_only_the_visitors_own_jobs(client, db):
    client.get("/")
    session = client.session
    session.save()
    mine = Job.objects.create(template_title="Mine", session_key=session.session_key)
    theirs = Job.objects.create(template_title="Theirs", session_key="someone-else")
    html = client.get("/me/").content.decode()
    assert str(mine.id) in html and str(theirs.id) not in html
