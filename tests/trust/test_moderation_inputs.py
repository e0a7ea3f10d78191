"""Photos and text are checked before a job is queued: a blocked one is refused kindly, never kept, never stored."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from comfyweb.catalog.forms import check_image_bytes
from comfyweb.jobs.models import Job, ModerationTally, StoredInput, WordList
from comfyweb.jobs.trust.inputs import refusal_for
from tests.trust.checks import MarkerDetector
from tests.trust.conftest import PHOTO_PARAMS, TEXT_PARAMS

pytestmark = pytest.mark.django_db

REFUSED_PHOTO = "Please choose another photo"


def upload(photo: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("me.jpg", photo, content_type="image/jpeg")


def test_a_flagged_photo_is_refused_beside_its_field_and_not_kept(client, marker_checks, photo_template, magenta_photo):
    response = client.post(
        "/t/portrait/", {"1.image": upload(magenta_photo), "quantity": "1"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert REFUSED_PHOTO in html and "has-error" in html
    assert "__held" not in html, "a blocked photo is not kept"
    assert not Job.objects.exists() and not StoredInput.objects.exists()


def test_the_refusal_is_in_chinese_too(client, marker_checks, photo_template, magenta_photo):
    response = client.post(
        "/t/portrait/", {"1.image": upload(magenta_photo), "quantity": "1"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert "抱歉，无法使用这张照片" in response.content.decode()


def test_a_plain_photo_passes(client, marker_checks, photo_template, plain_photo):
    assert client.post("/t/portrait/", {"1.image": upload(plain_photo), "quantity": "1"}).status_code == 302
    assert Job.objects.count() == 1


def test_after_another_refusal_a_flagged_photo_is_not_kept_but_a_plain_one_is(
    client, marker_checks, db, magenta_photo, plain_photo
):
    from comfyweb.catalog.models import WorkflowTemplate

    two = [*PHOTO_PARAMS, {"type": "image", "id": "3", "key": "image", "title": "Second"}]
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": ""}},
        "3": {"class_type": "LoadImage", "inputs": {"image": ""}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}},
    }
    WorkflowTemplate.objects.create(slug="two", title="Two", prompt=prompt, params=two)
    data = {"1.image": upload(plain_photo), "3.image": upload(magenta_photo), "quantity": "99"}
    html = client.post("/t/two/", data, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html.count('name="1.image__held"') == 1, "the plain photo stays chosen"
    assert 'name="3.image__held"' not in html and REFUSED_PHOTO in html
    assert StoredInput.objects.count() == 1


def test_blocked_words_are_refused_whole_words_and_chinese(client, db, settings):
    from comfyweb.catalog.models import WorkflowTemplate

    prompt = {"2": {"class_type": "PrimitiveString", "inputs": {"text": "hello"}}}
    WorkflowTemplate.objects.create(slug="words", title="Words", prompt=prompt, params=TEXT_PARAMS)
    WordList.objects.create(name="house rules", words="Forbidden\n坏词\n\nbad phrase")
    WordList.objects.create(name="off", words="class", enabled=False)

    def post(text: str):
        return client.post("/t/words/", {"2.text": text, "quantity": "1"}, HTTP_ACCEPT_LANGUAGE="en")

    for text in ("this is FORBIDDEN", "含有坏词的句子", "a bad  phrase".replace("  ", " ")):
        response = post(text)
        assert response.status_code == 400, text
        assert "contains words this site does not allow" in response.content.decode()
    for text in ("forbiddenness is fine", "a class of its own"):
        assert post(text).status_code == 302, text


def test_the_rest_api_names_the_refused_value(marker_checks, photo_template, magenta_photo):
    from rest_framework.test import APIClient

    value = "data:image/jpeg;base64," + base64.b64encode(magenta_photo).decode()
    body = {"workflow": "portrait", "values": {"1.image": value}}
    response = APIClient().post("/api/v1/jobs/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert REFUSED_PHOTO in response.json()["values"]["1.image"][0]
    assert not StoredInput.objects.exists()


def test_the_photo_is_checked_on_the_pixels_the_upload_checks_decoded(marker_checks, magenta_photo):
    image = check_image_bytes(magenta_photo, "me.jpg")
    assert image.pixels is not None and image.pixels.size == (96, 80)
    before = MarkerDetector.calls
    assert refusal_for(image, 0.5) and refusal_for(image, 0.5)
    assert MarkerDetector.calls == before + 1, "one photo is checked once"
    assert not refusal_for(image, 1.0), "a threshold of 1 never blocks"


def test_a_check_that_fails_blocks_unless_told_otherwise(client, settings, photo_template, plain_photo):
    settings.MODERATION_CHECKS = ["tests.trust.checks.BrokenCheck"]
    response = client.post("/t/portrait/", {"1.image": upload(plain_photo), "quantity": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and "try again in a moment" in response.content.decode()
    settings.MODERATION_FAIL_CLOSED = False
    response = client.post("/t/portrait/", {"1.image": upload(plain_photo), "quantity": "1"})
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert ModerationTally.objects.filter(stage="input", kind="image", outcome="error").get().checks == 2


def test_checks_and_blocks_are_counted_for_the_metrics(
    admin_client, marker_checks, photo_template, plain_photo, magenta_photo
):
    client = admin_client
    client.post("/t/portrait/", {"1.image": upload(plain_photo), "quantity": "1"})
    client.post("/t/portrait/", {"1.image": upload(magenta_photo), "quantity": "1"})
    text = client.get("/metrics").content.decode()
    assert 'comfyweb_moderation_checks_total{kind="image",outcome="passed",stage="input"} 1.0' in text
    assert 'comfyweb_moderation_checks_total{kind="image",outcome="blocked",stage="input"} 1.0' in text
    assert 'comfyweb_moderation_seconds_total{kind="image",outcome="blocked",stage="input"}' in text
    assert "comfyweb_moderation_withheld_images 0.0" in text
