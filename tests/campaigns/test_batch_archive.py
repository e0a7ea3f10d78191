"""Download all: a batch's images as one ZIP, streamed a chunk at a time, named like the single downloads,
for the batch's owner and the holders of a live link to it only."""

from __future__ import annotations

import io
import os
import re
import tracemalloc
import uuid
import zipfile

from asgiref.sync import async_to_sync
from django.test import Client

from comfyweb.core.streaming import CHUNK
from comfyweb.jobs.models import Job, JobOutput
from tests.campaigns.shared_work import finished_batch, finished_job
from tests.campaigns.streamed import body_of

MB = 2**20


def test_the_archive_holds_every_finished_image_named_as_its_single_download(client, visitor):
    batch, jobs = finished_batch(visitor, jobs=3, outputs=2)
    finished_job(visitor, batch=batch, status=Job.Status.FAILED)
    response = client.get(f"/batches/{batch}/download.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert re.fullmatch(r'attachment; filename="poster-frame-\d{4}-\d\d-\d\d\.zip"', response["Content-Disposition"])
    body = body_of(response)
    assert len(body) == int(response["Content-Length"]), "the length announced up front is the archive's"
    singles = {}
    for job in jobs:
        for n in (1, 2):
            single = client.get(f"/jobs/{job.pk}/images/{n}/download/")
            name = re.search(r'filename="([^"]+)"', single["Content-Disposition"]).group(1)
            singles[name] = body_of(single)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(singles)
        for name, data in singles.items():
            assert archive.read(name) == data
            assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED, "pictures are compressed already"
    assert all(re.fullmatch(r"poster-frame-\d{4}-\d\d-\d\d-[1-6]\.png", name) for name in singles)


def test_only_the_owner_downloads_the_batch_and_link_holders_while_the_link_lives(client, visitor):
    batch, _jobs = finished_batch(visitor, jobs=2)
    assert Client().get(f"/batches/{batch}/download.zip").status_code == 404
    someone = Client()
    someone.get("/")
    assert someone.get(f"/batches/{batch}/download.zip").status_code == 404
    assert client.post(f"/batches/{batch}/share/", {"days": "1"}).status_code == 302
    token = client.get(f"/batches/{batch}/share/")["Location"]
    link_page = client.get(token).content.decode()
    token = re.search(r"/s/([A-Za-z0-9_-]+)/", link_page).group(1)
    held = someone.get(f"/s/{token}/download.zip")
    assert held.status_code == 200
    with zipfile.ZipFile(io.BytesIO(body_of(held))) as archive:
        assert len(archive.namelist()) == 2
    client.post("/me/delete/", {"key": str(batch)})
    assert someone.get(f"/s/{token}/download.zip").status_code == 404


def test_a_batch_with_nothing_finished_has_no_archive(client, visitor):
    batch, _jobs = finished_batch(visitor, jobs=0)
    finished_job(visitor, batch=batch, status=Job.Status.RUNNING)
    assert client.get(f"/batches/{batch}/download.zip").status_code == 404


def test_a_file_missing_from_storage_is_left_out_not_a_broken_archive(client, visitor):
    batch, jobs = finished_batch(visitor, jobs=2)
    jobs[0].outputs.first().file.delete(save=False)
    response = client.get(f"/batches/{batch}/download.zip")
    with zipfile.ZipFile(io.BytesIO(body_of(response))) as archive:
        assert len(archive.namelist()) == 1 and archive.testzip() is None


def test_the_archive_of_a_large_batch_is_streamed_in_small_chunks_never_built_whole(client, visitor):
    """8 images of 4 MiB (32 MiB): the answer streams (asynchronously, as the ASGI server reads it) in chunks
    of at most CHUNK, and the Python heap never holds more than a few of them at once."""
    batch = uuid.uuid4()
    for _ in range(8):
        finished_job(visitor, batch=batch, data=os.urandom(4 * MB))
    response = client.get(f"/batches/{batch}/download.zip")
    assert response.streaming and response.is_async
    total, biggest, count = 0, 0, 0

    async def read() -> None:
        nonlocal total, biggest, count
        async for chunk in response.streaming_content:
            total += len(chunk)
            biggest = max(biggest, len(chunk))
            count += 1

    tracemalloc.start()
    try:
        async_to_sync(read)()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == int(response["Content-Length"]) > 32 * MB
    assert biggest <= CHUNK, f"a chunk of {biggest} bytes"
    assert count >= 32 * MB // CHUNK
    assert peak < 4 * MB, f"the heap grew by {peak / MB:.1f} MiB while streaming 32 MiB"


def test_an_image_held_back_is_never_in_an_archive(client, visitor):
    batch, jobs = finished_batch(visitor, jobs=3)
    JobOutput.objects.filter(job=jobs[1]).update(review=JobOutput.Review.WITHHELD)
    with zipfile.ZipFile(io.BytesIO(body_of(client.get(f"/batches/{batch}/download.zip")))) as archive:
        assert len(archive.namelist()) == 2
        held = JobOutput.objects.get(job=jobs[1]).file.read()
        assert all(archive.read(name) != held for name in archive.namelist())
