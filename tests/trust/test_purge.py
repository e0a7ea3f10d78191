"""Retention: the purge deletes photos, jobs with their images, and kept photos never sent, when their time
comes (the clock is moved, never waited for): files in Django storage (local or S3) and database rows."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from comfyweb.campaigns.models import Campaign
from comfyweb.catalog.forms import check_image_bytes
from comfyweb.jobs.limits import SubmissionRules
from comfyweb.jobs.models import Job, JobOutput, StoredInput
from comfyweb.jobs.services import create_jobs
from comfyweb.jobs.trust.purge import due_dates, purge
from tests.trust.conftest import picture

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 3, 1, 10, 0, tzinfo=datetime.UTC)


def finished_job(template, photo: bytes, *, campaign: str = "", status=Job.Status.SUCCEEDED) -> Job:
    """A job made from `photo`, finished with one output image and its thumbnail in storage."""
    [job] = create_jobs(
        template=template,
        values={"1.image": check_image_bytes(photo, "me.jpg")},
        session_key="visitor",
        rules=SubmissionRules(campaign=campaign),
    )
    Job.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now())
    output = JobOutput(job=job, node_id="3", index=0, filename="out.png")
    output.file.save(f"{job.pk}_0_out.png", ContentFile(picture(fmt="PNG")), save=False)
    output.thumbnail.save(f"{job.pk}_0.jpg", ContentFile(picture()), save=False)
    output.save()
    job.refresh_from_db()
    return job


def files_of(job: Job) -> tuple[list[str], list[str]]:
    """(its photos, its images and thumbnails) as storage names."""
    photos = [value["image"] for value in job.values.values()]
    outputs = [name for o in job.outputs.all() for name in (o.file.name, o.thumbnail.name)]
    return photos, outputs


def test_photos_go_first_then_the_job_with_its_images(photo_template, settings):
    settings.CATALOG_IMAGE_INPUT = "data_url"
    with time_machine.travel(START, tick=False) as clock:
        job = finished_job(photo_template, picture())
        photos, outputs = files_of(job)
        assert all(default_storage.exists(name) for name in [*photos, *outputs])
        assert "data:image/" in str(job.prompt), "the photo is inlined in the prompt"

        clock.move_to(START + datetime.timedelta(days=6, hours=23))
        assert purge().photos_of_jobs == 0 and default_storage.exists(photos[0])

        clock.move_to(START + datetime.timedelta(days=7, minutes=1))
        report = purge()
        assert report.photos_of_jobs == 1 and report.jobs == 0
        assert not default_storage.exists(photos[0]) and not StoredInput.objects.filter(name=photos[0]).exists()
        job.refresh_from_db()
        assert job.inputs_purged_at == timezone.now()
        assert "data:image/" not in str(job.prompt), "no copy of the photo outlives its file"
        assert all(default_storage.exists(name) for name in outputs)
        assert purge().photos_of_jobs == 0, "done once"

        clock.move_to(START + datetime.timedelta(days=30, minutes=1))
        assert purge().jobs == 1
        assert not Job.objects.exists() and not JobOutput.objects.exists()
        assert not any(default_storage.exists(name) for name in outputs)


def test_a_campaigns_periods_apply_to_its_jobs(photo_template):
    Campaign.objects.create(slug="brief", title="Brief", keep_uploads_days=1, keep_outputs_days=2)
    with time_machine.travel(START, tick=False) as clock:
        brief = finished_job(photo_template, picture((1, 2, 3)), campaign="brief")
        other = finished_job(photo_template, picture((4, 5, 6)))
        assert due_dates(brief) == (START + datetime.timedelta(days=1), START + datetime.timedelta(days=2))
        clock.move_to(START + datetime.timedelta(days=2, minutes=1))
        report = purge()
        assert report.jobs == 1 and report.photos_of_jobs == 0
        assert list(Job.objects.all()) == [other]


def test_jobs_still_waiting_or_running_are_never_touched(photo_template):
    with time_machine.travel(START, tick=False) as clock:
        job = finished_job(photo_template, picture(), status=Job.Status.RUNNING)
        clock.move_to(START + datetime.timedelta(days=90))
        assert purge().jobs == 0
        assert default_storage.exists(files_of(job)[0][0])


def test_a_photo_shared_by_two_jobs_stays_while_one_needs_it(photo_template):
    photo = picture((9, 9, 9))
    with time_machine.travel(START, tick=False) as clock:
        old = finished_job(photo_template, photo)
        clock.move_to(START + datetime.timedelta(days=5))
        new = finished_job(photo_template, photo)
        [name] = files_of(old)[0]
        assert files_of(new)[0] == [name], "stored once per content"
        clock.move_to(START + datetime.timedelta(days=8))
        assert purge().photos_of_jobs == 1
        assert default_storage.exists(name), "the newer job still needs it"
        clock.move_to(START + datetime.timedelta(days=13))
        assert purge().photos_of_jobs == 1
        assert not default_storage.exists(name)


def test_kept_photos_never_sent_expire_after_a_day(client, photo_template):
    with time_machine.travel(START, tick=False) as clock:
        data = {"1.image": SimpleUploadedFile("me.jpg", picture(), content_type="image/jpeg"), "quantity": "99"}
        assert client.post("/t/portrait/", data).status_code == 400
        [kept] = StoredInput.objects.all()
        assert default_storage.exists(kept.name) and not Job.objects.exists()
        clock.move_to(START + datetime.timedelta(hours=23))
        assert purge().kept_photos == 0
        clock.move_to(START + datetime.timedelta(hours=24, minutes=1))
        assert purge().kept_photos == 1
        assert not default_storage.exists(kept.name) and not StoredInput.objects.exists()


def test_a_kept_photo_sent_later_follows_its_jobs_retention(photo_template):
    with time_machine.travel(START, tick=False) as clock:
        job = finished_job(photo_template, picture())
        clock.move_to(START + datetime.timedelta(days=2))
        assert purge().kept_photos == 0
        assert default_storage.exists(files_of(job)[0][0])


def test_the_purge_command_takes_a_moment(photo_template, capsys):
    with time_machine.travel(START, tick=False):
        finished_job(photo_template, picture())
    call_command("purge", now=(START + datetime.timedelta(days=31)).isoformat())
    assert "1 job(s) deleted" in capsys.readouterr().out
    assert not Job.objects.exists()


def test_the_admin_shows_what_will_be_purged_when(admin_client, photo_template):
    Campaign.objects.create(slug="brief", title="Brief", keep_uploads_days=1, keep_outputs_days=5)
    campaign = Campaign.objects.get()
    with time_machine.travel(timezone.now() - datetime.timedelta(hours=12), tick=False):
        job = finished_job(photo_template, picture(), campaign="brief")
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    photos_at = timezone.localtime(job.created_at + datetime.timedelta(days=1))
    assert "What will be purged when" in page and photos_at.strftime("%Y") in page
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "Photos are deleted 1 day(s) after they are sent, jobs and images after 5." in html
    assert "within 24 hours: photos of 1 job(s), 0 job(s) with their images" in html


def test_a_job_whose_photos_are_gone_cannot_run_again(photo_template):
    from django.core.exceptions import ValidationError

    from comfyweb.jobs.services import retry_job

    with time_machine.travel(START, tick=False) as clock:
        job = finished_job(photo_template, picture(), status=Job.Status.FAILED)
        clock.move_to(START + datetime.timedelta(days=8))
        purge()
        job.refresh_from_db()
        with pytest.raises(ValidationError) as refused:
            retry_job(job=job)
        assert refused.value.error_list[0].code == "refused"


def test_the_system_checks_name_a_missing_font_and_half_a_c2pa_setup(settings, tmp_path):
    from comfyweb.jobs.trust.checks import check_trust_settings

    settings.LABEL_FONT = str(tmp_path / "missing.ttc")
    settings.C2PA_CERT_FILE = str(tmp_path / "chain.pem")
    settings.MODERATION_CHECKS = ["comfyweb.jobs.trust.nudity.NoSuchCheck"]
    ids = {problem.id for problem in check_trust_settings()}
    assert ids == {"comfyweb.W201", "comfyweb.E202", "comfyweb.E203", "comfyweb.E204"}
