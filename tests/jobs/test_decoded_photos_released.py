"""A submission lets go of its photos' decoded pixels once its checks are done. A Django form is a reference
cycle, so what it holds waits for the garbage collector: in a crowd, two decoded phone photos per submission
piled up (a web process peaked at 2.5 GiB in the spike bench)."""

from __future__ import annotations

import gc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from comfyweb.jobs.models import Job
from tests.jobs.conftest import photo

pytestmark = pytest.mark.django_db

SIZE = (67, 41)  # no other picture of the page has this size


def decoded_photos_alive() -> int:
    # type(), not isinstance(): that one asks a weak proxy (other tests leave some) for its dead referent
    return sum(1 for item in gc.get_objects() if issubclass(type(item), Image.Image) and item.size == SIZE)


def couple_values() -> dict:
    return {
        "10.image": SimpleUploadedFile("me.jpg", photo("JPEG", SIZE), "image/jpeg"),
        "11.image": "/static/characters/玥瑶.png",
        "12.image": SimpleUploadedFile("place.png", photo("PNG", SIZE), "image/png"),
        "24.text": "a woman with short hair",
        "quantity": "1",
    }


@pytest.fixture
def no_collector():
    """Nothing is freed by the cycle collector meanwhile: what is still alive is held, or waits for it."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_the_template_page_lets_go_of_the_decoded_photos(client, couple, no_collector):
    response = client.post("/t/couple-photo/", couple_values())
    assert response.status_code == 302, response.content[:300]
    assert Job.objects.count() == 1
    del response
    assert decoded_photos_alive() == 0


def test_a_refused_submission_lets_go_of_them_too(client, couple, no_collector):
    values = couple_values()
    values["quantity"] = "many"
    response = client.post("/t/couple-photo/", values)
    assert response.status_code == 400
    assert not Job.objects.exists()
    del response
    assert decoded_photos_alive() == 0


def test_the_api_lets_go_of_the_decoded_photos(api, couple, no_collector):
    response = api.post("/api/v1/jobs/", {"workflow": "couple-photo", **couple_values()}, format="multipart")
    assert response.status_code == 201, response.content
    del response
    assert decoded_photos_alive() == 0


def test_a_refused_api_request_lets_go_of_them_too(api, couple, no_collector):
    values = {**couple_values(), "11.image": "/static/characters/nobody.png"}  # not an option of the gallery
    response = api.post("/api/v1/jobs/", {"workflow": "couple-photo", **values}, format="multipart")
    assert response.status_code == 400, response.content
    del response
    assert decoded_photos_alive() == 0
