"""POST /api/v1/jobs/: JSON or multipart, checked by the template page's own form."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from comfyweb.catalog.forms import build_template_form
from comfyweb.jobs.models import Job
from tests.images import data_url, every_decode_slot_taken
from tests.jobs.conftest import noise_photo, photo

pytestmark = pytest.mark.django_db


def post(api, payload: dict, **extra):
    return api.post("/api/v1/jobs/", payload, format="json", HTTP_ACCEPT_LANGUAGE="en", **extra)


def poster_values(**changes) -> dict:
    return {"1.image": data_url(photo()), "3.color": 16777215, "4.value": 0.5, **changes}


def test_a_json_request_queues_a_job_and_answers_201_with_its_snapshot(api, poster):
    response = post(api, {"workflow": "poster-frame", "values": poster_values()})
    assert response.status_code == 201
    job = Job.objects.get()
    assert response["Location"] == f"/api/v1/jobs/{job.pk}/"
    body = response.json()
    assert body["batch"] is None
    (snapshot,) = body["jobs"]
    assert snapshot["id"] == str(job.pk) and snapshot["status"] == "queued" and snapshot["queue_position"] == 1
    assert snapshot["template"] == "poster-frame"
    assert job.template == poster and job.session_key, "an anonymous client owns its job through a session"
    assert job.prompt["3"]["inputs"]["color"] == 16777215
    assert job.prompt["4"]["inputs"]["value"] == 0.5
    assert response.cookies["sessionid"].value == job.session_key


def test_the_data_url_is_decoded_checked_and_re_encoded_like_an_upload(api, poster):
    jpeg = photo("JPEG", size=(80, 60))
    assert (
        post(api, {"workflow": "poster-frame", "values": {"1.image": data_url(jpeg, "image/jpeg")}}).status_code == 201
    )
    sent = Job.objects.get().prompt["1"]["inputs"]["image"]
    assert sent.startswith("data:image/jpeg;base64,")
    form = build_template_form(poster, data={}, files={"1.image": SimpleUploadedFile("a.jpg", jpeg, "image/jpeg")})
    assert form.is_valid()
    assert base64.b64decode(sent.split(",", 1)[1]) == form.cleaned_data["1.image"].data


def test_bare_base64_is_accepted_too(api, poster):
    raw = base64.b64encode(photo()).decode()
    assert post(api, {"workflow": "poster-frame", "values": {"1.image": raw}}).status_code == 201


def test_quantity_makes_a_batch_and_omitted_values_keep_the_workflow_defaults(api, poster):
    response = post(api, {"workflow": "poster-frame", "values": {"1.image": data_url(photo())}, "quantity": 3})
    assert response.status_code == 201
    body = response.json()
    assert len(body["jobs"]) == 3 and body["batch"]
    assert {j["batch"] for j in body["jobs"]} == {body["batch"]}
    for job in Job.objects.all():
        assert job.prompt["3"]["inputs"]["color"] == poster.prompt["3"]["inputs"]["color"]
        assert job.prompt["4"]["inputs"]["value"] == poster.prompt["4"]["inputs"]["value"]


@pytest.mark.parametrize("quantity", [0, 9, "many"])
def test_a_bad_quantity_is_a_400_naming_it(api, poster, quantity):
    response = post(api, {"workflow": "poster-frame", "values": poster_values(), "quantity": quantity})
    assert response.status_code == 400
    assert list(response.json()) == ["quantity"]
    assert not Job.objects.exists()


def test_multipart_takes_pictures_as_files_under_the_same_names(api, couple):
    response = api.post(
        "/api/v1/jobs/",
        {
            "workflow": "couple-photo",
            "quantity": "2",
            "10.image": SimpleUploadedFile("me.jpg", photo("JPEG"), "image/jpeg"),
            "11.image": "/static/characters/玥瑶.png",
            "12.image": SimpleUploadedFile("place.png", photo("PNG"), "image/png"),
            "24.text": "a woman with short hair",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    job = Job.objects.first()
    assert Job.objects.count() == 2
    assert job.prompt["24"]["inputs"]["text"] == "a woman with short hair"
    assert job.prompt["10"]["inputs"]["image"].startswith("data:image/jpeg;base64,")
    assert job.prompt["11"]["inputs"]["image"].startswith("data:image/png;base64,"), "the gallery pick is inlined"
    assert job.values["11.image"] == "/static/characters/玥瑶.png"


def test_multipart_may_carry_the_values_as_one_json_field(api, poster):
    response = api.post(
        "/api/v1/jobs/",
        {
            "workflow": "poster-frame",
            "values": '{"3.color": 1118481}',
            "1.image": SimpleUploadedFile("me.png", photo(), "image/png"),
        },
        format="multipart",
    )
    assert response.status_code == 201
    assert Job.objects.get().prompt["3"]["inputs"]["color"] == 1118481


def test_a_gallery_panel_takes_an_uploaded_picture_instead_of_an_option(api, couple):
    values = {"10.image": data_url(photo()), "11.image": data_url(photo("JPEG"), "image/jpeg"),
              "12.image": data_url(photo())}  # fmt: skip
    assert post(api, {"workflow": "couple-photo", "values": values}).status_code == 201
    assert Job.objects.get().prompt["11"]["inputs"]["image"].startswith("data:image/jpeg;base64,")


def test_a_picture_that_is_not_an_option_of_the_gallery_is_refused(api, couple):
    values = {"10.image": data_url(photo()), "11.image": "somebody-else.png", "12.image": data_url(photo())}
    response = post(api, {"workflow": "couple-photo", "values": values})
    assert response.status_code == 400
    assert list(response.json()["values"]) == ["11.image"]


# --- the same validation as the template page's form


INVALID_POSTER_VALUES = [
    {"4.value": 0.1},  # below min
    {"4.value": 0.33},  # off the 0.05 grid
    {"4.value": "a lot"},
    {"3.color": 42},  # not an option
    {"1.image": None},  # required picture missing
]


@pytest.mark.parametrize("change", INVALID_POSTER_VALUES)
def test_errors_are_the_form_errors_of_the_template_page(api, poster, change):
    values = poster_values(**change)
    response = post(api, {"workflow": "poster-frame", "values": values})
    assert response.status_code == 400
    errors = response.json()["values"]
    data = {k: v for k, v in values.items() if k != "1.image" and v is not None}
    files = {"1.image": SimpleUploadedFile("p.png", photo(), "image/png")} if values["1.image"] else {}
    with translation.override("en"):
        form = build_template_form(poster, data=data, files=files)
        assert not form.is_valid()
        expected = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
    assert errors == expected
    assert not Job.objects.exists()


def test_what_the_page_accepts_the_api_turns_into_the_same_prompt(api, client, poster):
    picture = photo("JPEG")
    page = client.post(
        "/t/poster-frame/",
        {"1.image": SimpleUploadedFile("me.jpg", picture, "image/jpeg"), "3.color": "1118481", "4.value": "0.75",
         "quantity": "1"},
    )  # fmt: skip
    assert page.status_code == 302
    from_page = Job.objects.get()
    values = {"1.image": data_url(picture, "image/jpeg"), "3.color": 1118481, "4.value": 0.75}
    assert post(api, {"workflow": "poster-frame", "values": values}).status_code == 201
    from_api = Job.objects.exclude(pk=from_page.pk).get()
    assert from_api.prompt == from_page.prompt
    assert from_api.values == from_page.values


def test_an_unknown_field_is_named_with_the_fields_the_workflow_takes(api, poster):
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"3.seed": 5})})
    assert response.status_code == 400
    (message,) = response.json()["values"]["3.seed"]
    assert "1.image, 3.color, 4.value" in message


def test_a_hidden_panel_cannot_be_set(api, poster):
    poster.params = [*poster.params, {"type": "number", "id": "3", "key": "width", "hidden": True}]
    poster.save()
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"3.width": 64})})
    assert response.status_code == 400
    assert list(response.json()["values"]) == ["3.width"]


def test_structured_values_are_refused(api, poster):
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"4.value": [0.5]})})
    assert response.status_code == 400
    assert response.json()["values"]["4.value"] == ["Give a text or a number."]


# --- malformed requests


def test_an_unknown_workflow_is_a_400_naming_the_workflow(api, poster):
    response = post(api, {"workflow": "no-such-thing", "values": {}})
    assert response.status_code == 400
    assert response.json()["workflow"] == ["Unknown workflow 'no-such-thing'."]


def test_a_disabled_workflow_is_unknown(api, poster):
    poster.enabled = False
    poster.save()
    assert list(post(api, {"workflow": "poster-frame", "values": poster_values()}).json()) == ["workflow"]


def test_malformed_json_is_a_400(api, poster):
    response = api.post("/api/v1/jobs/", '{"workflow": "poster-frame",', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_json_body_that_is_not_an_object_is_a_400(api, poster):
    response = api.post("/api/v1/jobs/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_values_must_be_an_object(api, poster):
    response = post(api, {"workflow": "poster-frame", "values": ["1.image"]})
    assert response.status_code == 400
    assert list(response.json()) == ["values"]


def test_missing_workflow_is_named(api, poster):
    response = post(api, {"values": poster_values()})
    assert response.status_code == 400
    assert list(response.json()) == ["workflow"]


# --- pictures: data URLs, sizes, URLs (SSRF)


def test_a_data_url_that_is_not_an_image_is_refused(api, poster):
    text = "data:text/plain;base64," + base64.b64encode(b"hello").decode()
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": text})})
    assert response.status_code == 400
    assert response.json()["values"]["1.image"] == ["This data URL is not an image (text/plain)."]


def test_image_bytes_that_are_no_image_are_refused_like_an_upload(api, poster):
    fake = "data:image/png;base64," + base64.b64encode(b"not a png at all" * 10).decode()
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": fake})})
    assert response.status_code == 400
    assert "not an image we can read" in response.json()["values"]["1.image"][0]


def test_broken_base64_is_refused(api, poster):
    response = post(
        api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": "data:image/png;base64,%%%"})}
    )
    assert response.status_code == 400
    assert response.json()["values"]["1.image"] == ["The picture is not valid base64."]


def test_an_oversized_picture_is_refused(api, poster, settings):
    settings.UPLOAD_MAX_BYTES = 2000
    big = noise_photo()
    assert len(big) > 2000
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": data_url(big)})})
    assert response.status_code == 400
    assert "too large" in response.json()["values"]["1.image"][0]


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/a.png", "http://localhost/a.png", "http://10.0.0.8/a.png", "http://169.254.169.254/latest",
     "http://[::1]/a.png"],
)  # fmt: skip
def test_a_picture_url_on_a_private_address_is_refused(api, poster, url, loopback):
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": url})})
    assert response.status_code == 400
    (message,) = response.json()["values"]["1.image"]
    assert "not a public address" in message
    assert loopback.requests == []
    assert not Job.objects.exists()


def test_a_picture_url_is_fetched_and_checked_like_an_upload(api, poster, loopback, settings):
    settings.API_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    loopback.routes["/me.jpg"] = (200, {"Content-Type": "image/jpeg"}, photo("JPEG"))
    loopback.routes["/notes.txt"] = (200, {"Content-Type": "text/plain"}, b"hello" * 100)
    ok = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": f"{loopback.url}/me.jpg"})})
    assert ok.status_code == 201
    assert Job.objects.get().prompt["1"]["inputs"]["image"].startswith("data:image/jpeg;base64,")
    bad = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": f"{loopback.url}/notes.txt"})})
    assert bad.status_code == 400
    assert "not an image we can read" in bad.json()["values"]["1.image"][0]
    missing = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": f"{loopback.url}/x.png"})})
    assert missing.status_code == 400
    assert "HTTP 404" in missing.json()["values"]["1.image"][0]


def test_a_redirect_to_a_private_address_is_refused(api, poster, loopback, settings):
    settings.API_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    loopback.routes["/r"] = (302, {"Location": "http://10.1.2.3/secret.png"}, b"")
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": f"{loopback.url}/r"})})
    assert response.status_code == 400
    assert "10.1.2.3 is not a public address" in response.json()["values"]["1.image"][0]


def test_a_picture_as_a_plain_file_name_is_refused(api, poster):
    response = post(api, {"workflow": "poster-frame", "values": poster_values(**{"1.image": "example.png"})})
    assert response.status_code == 400
    assert "data URL" in response.json()["values"]["1.image"][0]


def test_every_decode_slot_taken_is_a_503_with_retry_after(api, poster, settings):
    settings.IMAGE_DECODES_AT_ONCE, settings.IMAGE_DECODE_WAIT = 1, 0.2
    with every_decode_slot_taken(1):
        response = post(api, {"workflow": "poster-frame", "values": poster_values()})
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json() == {
        "detail": "Many photos are being checked right now. Please try again in a moment.",
        "code": "busy",
    }
    assert not Job.objects.exists()
