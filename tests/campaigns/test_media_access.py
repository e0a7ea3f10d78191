"""Media files go out only after the ownership check; in production the front server (or S3) sends them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from comfyweb.campaigns import media
from comfyweb.core.checks import check_media_serving
from comfyweb.core.streaming import CHUNK
from comfyweb.jobs.models import Job, JobOutput
from tests.campaigns.streamed import body_of, chunks_of
from tests.catalog.conftest import picture

BASE_DIR = Path(__file__).resolve().parents[2]
PNG = picture("PNG")


@pytest.fixture
def output(visitor) -> JobOutput:
    job = Job.objects.create(template_title="T", status=Job.Status.SUCCEEDED, session_key=visitor)
    result = JobOutput(job=job, node_id="9", index=0, filename="ComfyUI_00001_.png", content_type="image/png")
    result.file.save("result.png", ContentFile(PNG), save=False)
    result.thumbnail.save("result.jpg", ContentFile(picture("JPEG")), save=False)
    result.save()
    return result


@pytest.fixture
def production(settings, monkeypatch):
    """DEBUG off, not the loopback demo; django.views.static.serve must not be reached."""
    settings.DEBUG = False
    settings.EMBEDDED_DEV = False

    def refuse(*args, **kwargs):
        raise AssertionError("django.views.static.serve used in production")

    monkeypatch.setattr(media, "serve", refuse)
    return settings


def _url(name: str) -> str:
    return "/media/" + name


def test_the_owner_sees_outputs_and_thumbnails(client, output):
    for name in (output.file.name, output.thumbnail.name):
        answer = client.get(_url(name))
        assert answer.status_code == 200
        assert answer.is_async, "sent a chunk at a time: a FileResponse is read whole by an ASGI server"
        assert body_of(answer)
        assert "private" in answer["Cache-Control"]


def test_another_visitor_gets_nothing(client, output):
    stranger = Client()
    for name in (output.file.name, output.thumbnail.name):
        assert stranger.get(_url(name)).status_code == 404


def test_staff_see_every_output(output):
    staff = get_user_model().objects.create_user("ops", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(_url(output.file.name)).status_code == 200


def test_an_owner_with_an_account_sees_their_outputs_only_when_logged_in(output):
    owner = get_user_model().objects.create_user("amy")
    output.job.owner = owner
    output.job.save()
    client = Client()
    assert client.get(_url(output.file.name)).status_code == 404
    client.force_login(owner)
    assert client.get(_url(output.file.name)).status_code == 200


@pytest.mark.parametrize("demo", [True, False], ids=["static-serve", "streamed"])
def test_a_large_file_goes_out_a_chunk_at_a_time(db, settings, demo):
    """Not read whole into memory first (Django's FileResponse under an ASGI server), not 4 KiB a thread hop."""
    settings.DEBUG, settings.EMBEDDED_DEV, settings.MEDIA_ACCEL_REDIRECT_PREFIX = False, demo, ""
    data = os.urandom(2 * CHUNK + 1000)
    name = default_storage.save("inputs/ef/" + "ef" * 32 + ".png", ContentFile(data))
    answer = Client().get(_url(name))
    assert answer.status_code == 200 and answer.is_async
    chunks = chunks_of(answer)
    assert b"".join(chunks) == data
    assert [len(chunk) for chunk in chunks] == [CHUNK, CHUNK, 1000]


def test_inputs_are_read_by_their_content_hash_name(client, db):
    name = default_storage.save("inputs/ab/" + "ab" * 32 + ".png", ContentFile(PNG))
    assert Client().get(_url(name)).status_code == 200, "GPU agents fetch inputs by URL, without a session"
    assert Client().get(_url("inputs/ab/" + "cd" * 32 + ".png")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "../comfyweb/settings.py",
        "outputs/../../comfyweb/settings.py",
        "outputs/%2e%2e/%2e%2e/manage.py",
        "outputs//result.png",
        "other/file.png",
        "outputs",
    ],
)
def test_nothing_outside_the_known_folders(client, output, path):
    default_storage.save("other/file.png", ContentFile(PNG))
    assert client.get(_url(path)).status_code == 404


def test_production_hands_the_file_to_nginx_after_the_check(client, output, production):
    production.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    answer = client.get(_url(output.file.name))
    assert answer.status_code == 200
    assert answer["X-Accel-Redirect"] == "/protected-media/" + output.file.name
    assert answer["Content-Type"] == "image/png"
    assert answer.content == b"", "nginx sends the bytes"
    assert "private" in answer["Cache-Control"]

    stranger = Client().get(_url(output.file.name))
    assert stranger.status_code == 404
    assert "X-Accel-Redirect" not in stranger
    assert check_media_serving(None) == []


def test_production_without_a_front_server_streams_after_the_check_and_warns(client, output, production):
    production.MEDIA_ACCEL_REDIRECT_PREFIX = ""
    answer = client.get(_url(output.file.name))
    assert answer.status_code == 200
    assert answer.is_async
    assert body_of(answer) == PNG
    assert Client().get(_url(output.file.name)).status_code == 404
    assert [w.id for w in check_media_serving(None)] == ["comfyweb.W003"]


def test_the_demo_and_debug_use_djangos_static_serve(client, output, settings, monkeypatch):
    used = []
    original = media.serve
    monkeypatch.setattr(media, "serve", lambda *a, **k: used.append(a) or original(*a, **k))
    settings.DEBUG, settings.EMBEDDED_DEV = False, True
    assert client.get(_url(output.file.name)).status_code == 200
    settings.DEBUG, settings.EMBEDDED_DEV = True, False
    assert client.get(_url(output.file.name)).status_code == 200
    assert len(used) == 2


def test_with_s3_pages_get_presigned_urls_and_the_app_serves_no_media(tmp_path):
    """Settings with a bucket: private objects, URLs signed with an expiry, the bucket in img-src, no /media/."""
    script = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import Resolver404, resolve
try:
    resolve("/media/outputs/2026/01/01/a.png")
    routed = True
except Resolver404:
    routed = False
print(json.dumps({"url": default_storage.url("outputs/2026/01/01/a.png"), "routed": routed,
                  "img_src": settings.SECURE_CSP["img-src"], "acl": settings.AWS_DEFAULT_ACL}))
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comfyweb.settings",
        "AWS_STORAGE_BUCKET_NAME": "photos-bucket",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret-example",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "MEDIA_URL_EXPIRE": "600",
        "EMBEDDED_DEV": "1",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "X-Amz-Signature=" in seen["url"]
    assert "X-Amz-Expires=600" in seen["url"]
    assert seen["acl"] is None
    assert not seen["routed"], "no /media/ route with S3"
    url = urlsplit(seen["url"])
    assert f"{url.scheme}://{url.netloc}" in seen["img_src"], "pages may show the presigned images (CSP img-src)"
