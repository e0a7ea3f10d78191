from __future__ import annotations

import re
import uuid

from comfyweb.jobs.models import Job


def test_running_job_page_shows_progress_and_refreshes_without_javascript(client, visitor):
    job = Job.objects.create(template_title="T", status=Job.Status.RUNNING, percent=42, session_key=visitor)
    html = client.get(f"/jobs/{job.id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'aria-valuenow="42"' in html
    assert re.search(r'<noscript>\s*<meta http-equiv="refresh"', html)
    assert f'data-job-id="{job.id}"' in html


def test_finished_job_page_stops_refreshing_and_offers_a_retry(client, visitor):
    job = Job.objects.create(template_title="T", status=Job.Status.FAILED, error="boom", session_key=visitor)
    html = client.get(f"/jobs/{job.id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "http-equiv" not in html
    assert "something went wrong" in html
    assert f'action="/jobs/{job.id}/retry/" data-retry-form data-once>' in html


def test_another_visitors_job_is_not_shown(client, visitor):
    job = Job.objects.create(template_title="T", session_key="someone-else")
    assert client.get(f"/jobs/{job.id}/").status_code == 404
    batch = uuid.uuid4()
    Job.objects.create(template_title="T", batch=batch, session_key="someone-else")
    assert client.get(f"/batches/{batch}/").status_code == 404


def test_staff_see_any_job(admin_client, db):
    job = Job.objects.create(template_title="T", session_key="someone-else")
    assert admin_client.get(f"/jobs/{job.id}/").status_code == 200


def test_batch_page_puts_every_job_of_the_batch_in_one_grid(client, visitor):
    batch = uuid.uuid4()
    jobs = [Job.objects.create(template_title="T", batch=batch, session_key=visitor) for _ in range(3)]
    Job.objects.create(template_title="other", session_key=visitor)
    html = client.get(f"/batches/{batch}/").content.decode()
    assert html.count("data-job-id=") == 3
    assert all(str(job.id) in html for job in jobs)


def test_unknown_batch_is_not_found(client, db):
    assert client.get(f"/batches/{uuid.uuid4()}/").status_code == 404


def test_my_creations_shows_only_the_visitors_own_jobs(client, visitor):
    mine = Job.objects.create(template_title="Mine", session_key=visitor)
    theirs = Job.objects.create(template_title="Theirs", session_key="someone-else")
    html = client.get("/me/").content.decode()
    assert str(mine.id) in html and str(theirs.id) not in html


def test_retry_queues_a_copy_with_the_same_values_and_opens_it(client, visitor):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {}}}
    failed = Job.objects.create(
        template_title="T", status=Job.Status.FAILED, session_key=visitor, prompt=prompt, values={"1.width": 8}
    )
    response = client.post(f"/jobs/{failed.id}/retry/")
    again = Job.objects.exclude(pk=failed.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{again.id}/"
    assert again.status == Job.Status.QUEUED and again.prompt == failed.prompt and again.values == failed.values


def test_a_job_is_tried_again_only_once(client, visitor):
    batch = uuid.uuid4()
    cancelled = Job.objects.create(
        template_title="T", status=Job.Status.CANCELLED, session_key=visitor, batch=batch, prompt={"1": {}}
    )
    for _ in range(3):  # a double click, a second tab, a reload that posts again
        response = client.post(f"/jobs/{cancelled.id}/retry/")
        assert response.status_code == 302 and response["Location"] == f"/batches/{batch}/"
    [again] = Job.objects.exclude(pk=cancelled.pk)
    assert again.retry_of == cancelled and again.batch == batch
    html = client.get(f"/batches/{batch}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html.count("data-retry-form") == 0, "the cancelled card no longer offers to try again"
    assert f'href="/jobs/{again.id}/">Tried again: see the new try' in html


def test_a_single_job_tried_again_twice_opens_its_one_new_try(client, visitor):
    failed = Job.objects.create(template_title="T", status=Job.Status.FAILED, session_key=visitor, prompt={"1": {}})
    first = client.post(f"/jobs/{failed.id}/retry/")
    second = client.post(f"/jobs/{failed.id}/retry/")
    again = Job.objects.get(retry_of=failed)
    assert first["Location"] == second["Location"] == f"/jobs/{again.id}/"
    assert Job.objects.count() == 2


def test_a_card_is_drawn_by_the_server_for_the_page_that_asks(client, visitor):
    batch = uuid.uuid4()
    jobs = [Job.objects.create(template_title="T", session_key=visitor, batch=batch) for _ in range(2)]
    Job.objects.filter(pk=jobs[1].pk).update(status=Job.Status.FAILED)
    html = client.get(f"/jobs/{jobs[1].id}/card/?next=/me/queue/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html.lstrip().startswith("<article") and "<html" not in html
    assert f'data-job-id="{jobs[1].id}"' in html and "Image 2" in html
    assert 'name="next" value="/me/queue/"' in html and "Try again" in html
    elsewhere = client.get(f"/jobs/{jobs[1].id}/card/?next=https://evil.example/").content.decode()
    assert "evil.example" not in elsewhere and f'value="/batches/{batch}/"' in elsewhere
    assert client.get(f"/jobs/{Job.objects.create(template_title='T', session_key='x').id}/card/").status_code == 404


def test_retry_of_a_job_that_did_not_fail_changes_nothing(client, visitor):
    done = Job.objects.create(template_title="T", status=Job.Status.SUCCEEDED, session_key=visitor)
    assert client.post(f"/jobs/{done.id}/retry/").status_code == 302
    assert Job.objects.count() == 1


def test_cancel_stops_a_waiting_job(client, visitor):
    job = Job.objects.create(template_title="T", session_key=visitor)
    response = client.post(f"/jobs/{job.id}/cancel/")
    job.refresh_from_db()
    assert response.status_code == 302 and job.status == Job.Status.CANCELLED
    assert client.post(f"/jobs/{uuid.uuid4()}/cancel/").status_code == 404
    assert client.get(f"/jobs/{job.id}/cancel/").status_code == 405


def test_retry_counts_against_the_daily_quota_and_says_why(client, visitor):
    from comfyweb.campaigns.models import Campaign, CampaignTemplate
    from comfyweb.catalog.models import WorkflowTemplate

    template = WorkflowTemplate.objects.create(title="T", slug="t", prompt={"1": {"class_type": "X", "inputs": {}}})
    campaign = Campaign.objects.create(slug="c", title="C", daily_quota=2)
    CampaignTemplate.objects.create(campaign=campaign, template=template)
    cancelled = [
        Job.objects.create(
            template=template,
            template_title="T",
            status=Job.Status.CANCELLED,
            session_key=visitor,
            owner_key=f"session:{visitor}",
            campaign="c",
        )
        for _ in range(2)
    ]
    response = client.post(f"/jobs/{cancelled[0].id}/retry/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert Job.objects.count() == 2, "no copy beyond the quota"
    assert response.redirect_chain[-1][0] == f"/jobs/{cancelled[0].id}/"
    assert "used today&#x27;s 2 images for this campaign" in response.content.decode()
    assert 'role="alert"' in response.content.decode()


def test_retry_counts_against_the_waiting_jobs_cap(client, visitor, settings):
    settings.JOB_MAX_QUEUED_PER_VISITOR = 1
    Job.objects.create(template_title="T", session_key=visitor, owner_key=f"session:{visitor}")  # waiting
    failed = Job.objects.create(
        template_title="T", status=Job.Status.FAILED, session_key=visitor, owner_key=f"session:{visitor}"
    )
    response = client.post(f"/jobs/{failed.id}/retry/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert Job.objects.count() == 2
    assert "You already have 1 images waiting" in response.content.decode()


def test_jobs_made_before_logging_in_stay_with_the_visitor(client, db, django_user_model):
    client.get("/")
    from comfyweb.core.visitors import visitor_session_key

    class Request:  # the view helper, as a page that creates jobs calls it
        session = client.session

    request = Request()
    key = visitor_session_key(request)
    request.session.save()
    before = Job.objects.create(template_title="Before", session_key=key)
    other = Job.objects.create(template_title="Other", session_key="someone-else")
    user = django_user_model.objects.create_user("ann", password="pw-123456")
    client.force_login(user)
    assert client.session.session_key != key
    html = client.get("/me/").content.decode()
    assert str(before.id) in html and str(other.id) not in html
    assert client.get(f"/jobs/{before.id}/").status_code == 200
