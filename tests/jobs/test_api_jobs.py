"""Reading, cancelling and downloading jobs through the API: each visitor sees only their own."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from comfyweb.jobs.models import Job, JobOutput
from comfyweb.jobs.services import create_jobs
from tests.campaigns.streamed import body_of
from tests.images import data_url
from tests.jobs.conftest import photo

pytestmark = pytest.mark.django_db


def token_client(username: str, **extra) -> tuple[APIClient, object]:
    user = get_user_model().objects.create_user(username, password="x", **extra)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client, user


def create(client, quantity: int = 1) -> list[dict]:
    payload = {"workflow": "poster-frame", "values": {"1.image": data_url(photo())}, "quantity": quantity}
    response = client.post("/api/v1/jobs/", payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()["jobs"]


def succeeded_with_output(job_id) -> JobOutput:
    job = Job.objects.get(pk=job_id)
    job.status, job.started_at, job.finished_at, job.percent = Job.Status.SUCCEEDED, timezone.now(), timezone.now(), 100
    job.save()
    return JobOutput.objects.create(
        job=job, node_id="6", index=0, file=ContentFile(photo(), name="poster_00001_.png"),
        filename="poster_00001_.png", content_type="image/png", width=64, height=48,
    )  # fmt: skip


def test_my_jobs_are_listed_newest_first_and_paginated(api, poster):
    first = create(api)[0]
    later = create(api, quantity=2)
    create(APIClient())  # another visitor's
    response = api.get("/api/v1/jobs/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [j["id"] for j in body["results"]][-1] == first["id"]
    assert {j["id"] for j in body["results"][:2]} == {j["id"] for j in later}
    page = api.get("/api/v1/jobs/?page_size=2&page=2").json()
    assert [j["id"] for j in page["results"]] == [first["id"]] and page["previous"]


def test_a_visitor_without_a_session_has_no_jobs(api, poster):
    create(APIClient())
    assert api.get("/api/v1/jobs/").json()["count"] == 0


def test_token_clients_see_their_account_jobs_from_any_client(poster):
    scripted, user = token_client("maker")
    (job,) = create(scripted)
    assert Job.objects.get(pk=job["id"]).owner == user
    again = APIClient()
    again.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
    assert [j["id"] for j in again.get("/api/v1/jobs/").json()["results"]] == [job["id"]]
    assert again.get(f"/api/v1/jobs/{job['id']}/").json()["status"] == "queued"


def test_the_browser_session_of_the_same_account_sees_the_same_jobs(client, poster):
    scripted, user = token_client("maker")
    (job,) = create(scripted)
    client.force_login(user)
    assert [j["id"] for j in client.get("/api/v1/jobs/").json()["results"]] == [job["id"]]


def test_an_unknown_token_is_401_with_the_scheme_to_use(api, poster):
    response = api.get("/api/v1/jobs/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["detail"]


def test_a_job_is_shown_to_its_owner_and_staff_only(api, poster):
    (job,) = create(api)
    url = f"/api/v1/jobs/{job['id']}/"
    mine = api.get(url)
    assert mine.status_code == 200
    assert mine.json()["id"] == job["id"] and mine.json()["queue_position"] == 1
    assert APIClient().get(url).status_code == 404
    other, _user = token_client("other")
    assert other.get(url).status_code == 404
    staff, _admin = token_client("operator", is_staff=True)
    assert staff.get(url).status_code == 200
    assert api.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_the_owner_cancels_a_queued_job(api, poster):
    (job,) = create(api)
    response = api.post(f"/api/v1/jobs/{job['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Job.objects.get(pk=job["id"]).status == Job.Status.CANCELLED


def test_cancelling_a_running_job_asks_its_runner_to_interrupt_it(api, poster):
    (job,) = create(api)
    Job.objects.filter(pk=job["id"]).update(status=Job.Status.RUNNING, started_at=timezone.now())
    response = api.post(f"/api/v1/jobs/{job['id']}/cancel/")
    assert response.status_code == 200
    assert Job.objects.get(pk=job["id"]).cancel_requested


def test_cancelling_a_finished_job_is_a_409(api, poster):
    (job,) = create(api)
    succeeded_with_output(job["id"])
    response = api.post(f"/api/v1/jobs/{job['id']}/cancel/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 409
    assert response.json()["detail"] == "The job has already finished (succeeded)."


def test_nobody_else_can_cancel_a_job(api, poster):
    (job,) = create(api)
    other, _user = token_client("other")
    assert other.post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 404
    assert APIClient().post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 404
    assert Job.objects.get(pk=job["id"]).status == Job.Status.QUEUED


def test_staff_can_cancel_any_job(api, poster):
    (job,) = create(api)
    staff, _admin = token_client("operator", is_staff=True)
    assert staff.post(f"/api/v1/jobs/{job['id']}/cancel/").json()["status"] == "cancelled"


def test_the_owner_downloads_an_output_as_an_attachment(api, poster):
    (job,) = create(api)
    output = succeeded_with_output(job["id"])
    snapshot = api.get(f"/api/v1/jobs/{job['id']}/").json()
    (listed,) = snapshot["outputs"]
    assert listed["download_url"] == f"/api/v1/jobs/{job['id']}/outputs/{output.pk}/"
    assert (listed["width"], listed["height"]) == (64, 48)
    response = api.get(listed["download_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="poster_00001_.png"'
    assert response.is_async, "sent a chunk at a time: a FileResponse is read whole by an ASGI server"
    assert body_of(response) == photo()


def test_outputs_are_for_the_owner_only(api, poster):
    (job,) = create(api)
    output = succeeded_with_output(job["id"])
    url = f"/api/v1/jobs/{job['id']}/outputs/{output.pk}/"
    assert APIClient().get(url).status_code == 404
    other, _user = token_client("other")
    assert other.get(url).status_code == 404
    assert api.get(f"/api/v1/jobs/{job['id']}/outputs/{output.pk + 1}/").status_code == 404


def test_an_output_of_another_job_is_not_reachable_through_mine(api, poster):
    (mine,) = create(api)
    theirs = create_jobs(template=poster, values={}, session_key="someone-else")[0]
    output = succeeded_with_output(theirs.pk)
    assert api.get(f"/api/v1/jobs/{mine['id']}/outputs/{output.pk}/").status_code == 404
