"""My queue: everything the visitor has waiting or running, across batches, with cancel and cancel-all."""

from __future__ import annotations

import uuid

from comfyweb.jobs.models import Job


def waiting(visitor: str, **extra) -> Job:
    return Job.objects.create(template_title="Poster", session_key=visitor, owner_key=f"session:{visitor}", **extra)


def test_the_queue_shows_every_waiting_or_running_job_of_the_visitor_across_batches(client, visitor):
    batch = uuid.uuid4()
    in_batch = [waiting(visitor, batch=batch, fair_tag=n) for n in (2, 4)]
    single = waiting(visitor, fair_tag=3)
    running = waiting(visitor, status=Job.Status.RUNNING, fair_tag=1)
    done = waiting(visitor, status=Job.Status.SUCCEEDED)
    theirs = waiting("someone-else")
    html = client.get("/me/queue/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    shown = [job for job in (running, in_batch[0], single, in_batch[1]) if f'data-job-id="{job.pk}"' in html]
    assert len(shown) == 4 and str(done.pk) not in html and str(theirs.pk) not in html
    positions = [html.index(f'data-job-id="{job.pk}"') for job in (running, in_batch[0], single, in_batch[1])]
    assert positions == sorted(positions), "in the order they will run"
    assert "Poster · Image 2" in html, "a batch's job says which image of it it is"
    assert html.count("data-cancel-form") == 4 and "Cancel all" in html
    assert 'href="/me/queue/"' in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode(), "in the menu"


def test_an_empty_queue_says_so(client, visitor):
    html = client.get("/me/queue/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Nothing is waiting or being made right now." in html and "Cancel all" not in html


def test_cancel_all_stops_only_the_visitors_own_waiting_and_running_jobs(client, visitor):
    mine = [waiting(visitor), waiting(visitor, batch=uuid.uuid4()), waiting(visitor, status=Job.Status.RUNNING)]
    done = waiting(visitor, status=Job.Status.SUCCEEDED)
    theirs = [waiting("someone-else"), waiting("someone-else", status=Job.Status.RUNNING)]
    response = client.post("/me/queue/cancel/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert response.redirect_chain[-1][0] == "/me/queue/"
    assert "Cancelled 3 images." in response.content.decode()
    statuses = {job.pk: Job.objects.get(pk=job.pk) for job in [*mine, done, *theirs]}
    assert [statuses[j.pk].status for j in mine[:2]] == [Job.Status.CANCELLED] * 2
    assert statuses[mine[2].pk].cancel_requested, "a running job is stopped by its runner"
    assert statuses[done.pk].status == Job.Status.SUCCEEDED
    assert all(statuses[j.pk].status in Job.ACTIVE_STATUSES and not statuses[j.pk].cancel_requested for j in theirs)
    assert client.get("/me/queue/cancel/").status_code == 405


def test_cancelling_one_card_on_the_queue_returns_to_the_queue(client, visitor):
    job = waiting(visitor)
    response = client.post(f"/jobs/{job.pk}/cancel/", {"next": "/me/queue/"})
    assert response["Location"] == "/me/queue/"
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED


def test_a_card_that_ends_on_the_queue_is_drawn_with_its_queue_label(client, visitor):
    batch = uuid.uuid4()
    jobs = [waiting(visitor, batch=batch) for _ in range(2)]
    html = client.get(f"/jobs/{jobs[1].pk}/card/?next=/me/queue/&on=queue", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Poster · Image 2" in html
    assert "Poster ·" not in client.get(f"/jobs/{jobs[1].pk}/card/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
