"""The purge on S3 (a moto server on loopback through django-storages, as in production), the worker's
periodic purge, and a visitor's "delete everything of mine"."""

from __future__ import annotations

import asyncio
import datetime

import boto3
import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from comfyweb.jobs.models import Job, JobOutput, StoredInput
from comfyweb.jobs.trust.purge import purge
from tests.conftest import free_port
from tests.trust.conftest import picture
from tests.trust.test_purge import START, files_of, finished_job

BUCKET = "comfyweb-media"


@pytest.fixture
def s3_storage(settings):
    """Django's default storage on a moto S3 server of this test (loopback, free port)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    options = {"access_key": "test", "secret_key": "test", "region_name": "us-east-1", "endpoint_url": endpoint}
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {**options, "bucket_name": BUCKET}},
    }
    yield client
    server.stop()


def keys(client) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


@pytest.mark.django_db
def test_the_purge_deletes_s3_objects_and_rows(s3_storage, photo_template):
    assert type(default_storage._setup() or default_storage._wrapped).__name__ == "S3Storage"
    with time_machine.travel(START, tick=False) as clock:
        job = finished_job(photo_template, picture())
        photos, outputs = files_of(job)
        assert keys(s3_storage) == {*photos, *outputs}, "the files are S3 objects"
        clock.move_to(START + datetime.timedelta(days=8))
        assert purge().photos_of_jobs == 1
        assert keys(s3_storage) == set(outputs)
        clock.move_to(START + datetime.timedelta(days=31))
        assert purge().jobs == 1
        assert keys(s3_storage) == set() and not Job.objects.exists() and not StoredInput.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_the_worker_purges_on_its_own(settings, photo_template, emulator_thread):
    from tests.jobs.test_runner_e2e import fast_worker

    settings.PURGE_INTERVAL = 0.05
    job = await sync_to_async(finished_job)(photo_template, picture())
    photos, outputs = await sync_to_async(files_of)(job)
    month_ago = timezone.now() - datetime.timedelta(days=31)
    await Job.objects.filter(pk=job.pk).aupdate(created_at=month_ago)
    await StoredInput.objects.aupdate(stored_at=month_ago)
    files = [*photos, *outputs]
    worker = fast_worker()
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(30):  # the rows go first, then the files
            while await Job.objects.filter(pk=job.pk).aexists() or any(map(default_storage.exists, files)):
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
    assert not await JobOutput.objects.aexists()


@pytest.mark.django_db
def test_delete_everything_of_mine(client, photo_template, settings):
    client.get("/")
    session = client.session
    session.save()
    mine = [finished_job(photo_template, picture((i, i, i))) for i in (1, 2)]
    Job.objects.filter(pk__in=[j.pk for j in mine]).update(session_key=session.session_key)
    running = finished_job(photo_template, picture((3, 3, 3)), status=Job.Status.RUNNING)
    Job.objects.filter(pk=running.pk).update(session_key=session.session_key)
    someone_else = finished_job(photo_template, picture((4, 4, 4)))
    data = {"1.image": SimpleUploadedFile("me.jpg", picture((5, 5, 5)), content_type="image/jpeg"), "quantity": "99"}
    client.post("/t/portrait/", data)  # a refused form: the photo is kept for this visitor
    kept = StoredInput.objects.exclude(name__in=[n for j in Job.objects.all() for n in files_of(j)[0]]).get()
    mine_files = [name for job in mine for part in files_of(job) for name in part]

    response = client.post("/me/delete-everything/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "were still being made: they are stopped now" in response.content.decode()
    assert set(Job.objects.values_list("pk", flat=True)) == {running.pk, someone_else.pk}
    assert Job.objects.get(pk=running.pk).cancel_requested, "its runner stops it"
    assert not any(default_storage.exists(name) for name in mine_files)
    assert not default_storage.exists(kept.name) and not StoredInput.objects.filter(name=kept.name).exists()
    assert all(default_storage.exists(name) for part in files_of(someone_else) for name in part)

    Job.objects.filter(pk=running.pk).update(status=Job.Status.CANCELLED)  # what its runner does next
    response = client.post("/me/delete-everything/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "Everything you made here and every photo you sent is deleted." in response.content.decode()
    assert list(Job.objects.all()) == [someone_else] and JobOutput.objects.filter(job=someone_else).exists()
    assert not default_storage.exists(files_of(running)[0][0])


@pytest.mark.django_db
def test_my_creations_offers_to_delete_everything(client, photo_template):
    client.get("/")
    session = client.session
    session.save()
    job = finished_job(photo_template, picture())
    Job.objects.filter(pk=job.pk).update(session_key=session.session_key)
    html = client.get("/me/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/me/delete-everything/"' in html and "Delete everything of mine" in html
