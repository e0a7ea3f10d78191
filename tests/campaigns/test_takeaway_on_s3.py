"""Take-away on S3 media (a moto S3 API on loopback through django-storages, as in production): the batch's
ZIP, a shared image and its named download are read from the bucket, a chunk at a time."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from tests.campaigns.shared_work import finished_batch
from tests.campaigns.streamed import body_of
from tests.s3 import REGION, S3Server


@pytest.fixture
def s3_media(settings):
    server = S3Server().start()
    bucket = server.create_bucket()
    options = {
        "bucket_name": bucket,
        "endpoint_url": server.url,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "region_name": REGION,
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    yield server, bucket
    server.stop()


def test_the_zip_and_the_shared_images_come_from_the_bucket(client, visitor, s3_media):
    server, bucket = s3_media
    batch, jobs = finished_batch(visitor, jobs=3)
    assert type(default_storage._wrapped).__name__ == "S3Storage"
    stored = server.keys(bucket, "outputs/")
    assert len(stored) == 3, "the images are objects of the bucket"
    response = client.get(f"/batches/{batch}/download.zip")
    with zipfile.ZipFile(io.BytesIO(body_of(response))) as archive:
        assert len(archive.namelist()) == 3 and archive.testzip() is None
        read = {archive.read(name) for name in archive.namelist()}
    assert read == {server.client().get_object(Bucket=bucket, Key=key)["Body"].read() for key in stored}
    assert client.post(f"/batches/{batch}/share/", {"days": "7"}).status_code == 302
    token = re.search(
        r"/s/([A-Za-z0-9_-]+)/", client.get(client.get(f"/batches/{batch}/share/")["Location"]).content.decode()
    ).group(1)
    stranger = Client()
    image = stranger.get(f"/s/{token}/images/{jobs[1].pk}/1/")
    assert image.status_code == 200 and body_of(image) in read
    download = stranger.get(f"/s/{token}/images/{jobs[1].pk}/1/download/")
    assert download["Content-Disposition"].startswith('attachment; filename="poster-frame-')
    assert int(download["Content-Length"]) == len(body_of(download))
