"""Nothing chosen is lost: after any refusal the valid photos stay chosen (kept for the visitor), replaceable."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from comfyweb.campaigns.held import SESSION_KEY
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def photo(fmt: str = "JPEG", colour=(30, 140, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), colour).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def shipped(db, campaign) -> WorkflowTemplate:
    entry = json.loads((WORKFLOWS / "couple-photo.json").read_text(encoding="utf-8"))[0]
    template = WorkflowTemplate.objects.get(slug="couple-photo")
    template.prompt, template.params = entry["prompt"], entry["params"]
    template.save()
    return template


def kept_token(html: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}__held" value="([^"]+)" checked', html)
    assert found, f"no kept photo for {name}"
    return found.group(1)


def test_a_refused_form_keeps_the_valid_photo_and_marks_only_the_missing_one(client, shipped):
    data = {
        "10.image": SimpleUploadedFile("me.jpg", photo(), "image/jpeg"),
        "24.text": "short black hair",
        "11.image": "/static/characters/玥瑶.png",
        "quantity": "2",
    }  # the background (12.image) is missing
    response = client.post("/t/couple-photo/", data, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 400 and not Job.objects.exists()
    token = kept_token(html, "10.image")
    kept = client.session[SESSION_KEY][token]
    assert kept.startswith("inputs/") and default_storage.exists(kept)
    assert f'src="/media/{kept}"' in html, "the kept photo is shown as chosen"
    assert html.count('class="field has-error') == 1, "only the faulty field is marked"
    assert 'aria-invalid="true"' in html and 'name="12.image"' in html
    assert "short black hair</textarea>" in html
    assert re.search(r'<input type="radio" name="11.image" value="/static/characters/玥瑶.png"[^>]* checked>', html)
    assert 'name="quantity" value="2" checked' in html

    # The second try sends only the missing photo: the kept one is used.
    again = {
        "10.image__held": token,
        "24.text": "short black hair",
        "11.image": "/static/characters/玥瑶.png",
        "12.image": SimpleUploadedFile("place.png", photo("PNG"), "image/png"),
        "quantity": "1",
    }
    assert client.post("/t/couple-photo/", again).status_code == 302
    job = Job.objects.get()
    assert job.values["10.image"] == {"image": kept}
    assert job.prompt["10"]["inputs"]["image"].startswith("data:image/jpeg;base64,")


def test_a_new_file_replaces_the_kept_photo(client, shipped):
    first = client.post("/t/couple-photo/", {"10.image": SimpleUploadedFile("a.jpg", photo(), "image/jpeg")})
    token = kept_token(first.content.decode(), "10.image")
    replaced = {
        "10.image__held": token,
        "10.image": SimpleUploadedFile("b.jpg", photo(colour=(200, 30, 30)), "image/jpeg"),
        "11.image": "/static/characters/玥瑶.png",
        "12.image": SimpleUploadedFile("place.png", photo("PNG"), "image/png"),
        "quantity": "1",
    }
    assert client.post("/t/couple-photo/", replaced).status_code == 302
    assert Job.objects.get().values["10.image"]["image"] != client.session[SESSION_KEY][token]


def test_an_unticked_kept_photo_is_unused_and_another_sessions_token_means_nothing(client, shipped):
    first = client.post("/t/couple-photo/", {"10.image": SimpleUploadedFile("a.jpg", photo(), "image/jpeg")})
    token = kept_token(first.content.decode(), "10.image")
    unticked = client.post("/t/couple-photo/", {"11.image": "/static/characters/玥瑶.png"}, HTTP_ACCEPT_LANGUAGE="en")
    assert unticked.status_code == 400 and 'name="10.image__held"' not in unticked.content.decode()

    from django.test import Client

    stranger = Client()
    stolen = stranger.post("/t/couple-photo/", {"10.image__held": token}, HTTP_ACCEPT_LANGUAGE="en")
    assert 'name="10.image__held"' not in stolen.content.decode()
    assert "This field is required." in stolen.content.decode()


def test_the_daily_quota_refusal_keeps_every_photo(client, shipped, campaign):
    campaign.daily_quota = 1
    campaign.save()
    data = {
        "10.image": SimpleUploadedFile("me.jpg", photo(), "image/jpeg"),
        "11.image": "/static/characters/玥瑶.png",
        "12.image": SimpleUploadedFile("place.png", photo("PNG"), "image/png"),
        "quantity": "2",
    }
    response = client.post("/c/couple-photo/t/couple-photo/", data, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 400 and "lower the quantity" in html
    assert kept_token(html, "10.image") and kept_token(html, "12.image")
    assert "has-error" not in html, "a refusal of the whole submission marks no field"


def test_a_bad_file_is_marked_while_the_good_one_is_kept(client, shipped):
    data = {
        "10.image": SimpleUploadedFile("me.jpg", b"not an image", "image/jpeg"),
        "11.image": "/static/characters/玥瑶.png",
        "12.image": SimpleUploadedFile("place.png", photo("PNG"), "image/png"),
    }
    html = client.post("/t/couple-photo/", data, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert kept_token(html, "12.image")
    assert 'name="10.image__held"' not in html
    assert html.count('class="field has-error') == 1
