"""Images made are checked before a visitor sees them: a flagged one is withheld everywhere (card, media URL,
downloads, REST API) and waits in the admin's review queue, where an operator releases or deletes it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.files.storage import default_storage

from comfyweb.campaigns.models import Campaign
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job, JobOutput
from comfyweb.jobs.selectors import job_snapshot
from comfyweb.jobs.services import create_jobs
from comfyweb.jobs.trust.policy import policy_for
from tests.jobs.test_runner_e2e import all_final, fast_worker, make_backend, run_until
from tests.trust.checks import MAGENTA_INT
from tests.trust.conftest import solid_prompt

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "/admin/jobs/withheldoutput/"


@pytest.fixture
def visitor_key(client) -> str:
    client.get("/")
    session = client.session
    session.save()
    return session.session_key


def make_jobs(colour: int, session_key: str, campaign: str = "") -> Job:
    from comfyweb.jobs.limits import SubmissionRules

    template = WorkflowTemplate.objects.create(slug=f"solid-{colour}", title="Solid", prompt=solid_prompt(colour))
    [job] = create_jobs(template=template, values={}, session_key=session_key, rules=SubmissionRules(campaign=campaign))
    return job


async def finished_job(emulator_thread, colour: int, session_key: str, campaign: str = "") -> Job:
    await sync_to_async(make_backend)(emulator_thread.url)
    job = await sync_to_async(make_jobs)(colour, session_key, campaign)
    await run_until(all_final, fast_worker())
    return await sync_to_async(Job.objects.prefetch_related("outputs").get)(pk=job.pk)


async def test_a_flagged_image_is_withheld_from_its_visitor(marker_checks, emulator_thread, client, visitor_key):
    job = await finished_job(emulator_thread, MAGENTA_INT, visitor_key)
    assert job.status == Job.Status.SUCCEEDED
    output = await JobOutput.objects.aget(job=job)
    assert output.review == JobOutput.Review.WITHHELD
    assert output.review_detail["check"] == "marker" and output.review_detail["score"] >= 0.5
    snapshot = await sync_to_async(job_snapshot)(job)
    assert snapshot["outputs"] == [] and snapshot["withheld"] == 1
    get = sync_to_async(client.get)
    assert (await get(f"/media/{output.file.name}")).status_code == 404
    assert (await get(f"/media/{output.thumbnail.name}")).status_code == 404
    assert (await get(f"/jobs/{job.pk}/images/1/download/")).status_code == 404
    assert (await get(f"/api/v1/jobs/{job.pk}/outputs/{output.pk}/")).status_code == 404
    page = (await get(f"/jobs/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en")).content.decode()
    assert "A picture was withheld" in page and output.file.name not in page
    assert "data-withheld hidden" not in page


async def test_a_plain_image_is_shown_and_labelled(marker_checks, emulator_thread, client, visitor_key):
    job = await finished_job(emulator_thread, 0x20A0C0, visitor_key)
    output = await JobOutput.objects.aget(job=job)
    assert output.review == JobOutput.Review.PASSED
    assert (await sync_to_async(job_snapshot)(job))["withheld"] == 0
    assert (await sync_to_async(client.get)(f"/media/{output.file.name}")).status_code == 200


async def test_the_campaigns_threshold_decides(marker_checks, emulator_thread, visitor_key):
    await Campaign.objects.acreate(slug="lenient", title="Lenient", output_threshold=1.0)
    assert (await sync_to_async(policy_for)("lenient")).output_threshold == 1.0
    job = await finished_job(emulator_thread, MAGENTA_INT, visitor_key, campaign="lenient")
    assert (await JobOutput.objects.aget(job=job)).review == JobOutput.Review.PASSED


def action(admin_client, name: str, outputs) -> str:
    data = {"action": name, "_selected_action": [str(o.pk) for o in outputs]}
    return admin_client.post(QUEUE, data, HTTP_ACCEPT_LANGUAGE="en", follow=True).content.decode()


async def test_an_operator_releases_a_withheld_image(marker_checks, emulator_thread, client, visitor_key, admin_client):
    job = await finished_job(emulator_thread, MAGENTA_INT, visitor_key)
    output = await JobOutput.objects.aget(job=job)
    queue = (await sync_to_async(admin_client.get)(QUEUE, HTTP_ACCEPT_LANGUAGE="en")).content.decode()
    assert output.thumbnail.url in queue and "FEMALE_BREAST_EXPOSED" in queue
    assert "Released 1 image." in await sync_to_async(action)(admin_client, "release", [output])
    output = await JobOutput.objects.select_related("reviewed_by").aget(pk=output.pk)
    assert output.review == JobOutput.Review.RELEASED and output.reviewed_by.is_staff and output.reviewed_at
    job = await sync_to_async(Job.objects.prefetch_related("outputs").get)(pk=job.pk)
    snapshot = await sync_to_async(job_snapshot)(job)
    assert len(snapshot["outputs"]) == 1 and snapshot["withheld"] == 0
    assert (await sync_to_async(client.get)(f"/media/{output.file.name}")).status_code == 200
    assert (await sync_to_async(client.get)(f"/jobs/{job.pk}/images/1/download/")).status_code == 200
    assert output.file.url not in (await sync_to_async(admin_client.get)(QUEUE)).content.decode()


async def test_an_operator_deletes_a_withheld_image(marker_checks, emulator_thread, client, visitor_key, admin_client):
    job = await finished_job(emulator_thread, MAGENTA_INT, visitor_key)
    output = await JobOutput.objects.aget(job=job)
    names = [output.file.name, output.thumbnail.name]
    assert all(default_storage.exists(name) for name in names)
    assert "Deleted 1 image." in await sync_to_async(action)(admin_client, "delete_for_good", [output])
    assert not any(default_storage.exists(name) for name in names)
    output = await JobOutput.objects.aget(pk=output.pk)
    assert output.review == JobOutput.Review.REMOVED and not output.file
    job = await sync_to_async(Job.objects.prefetch_related("outputs").get)(pk=job.pk)
    assert (await sync_to_async(job_snapshot)(job))["withheld"] == 1, "the card still says a picture was withheld"
