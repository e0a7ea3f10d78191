from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def photo(fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (30, 140, 200)).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def seed_template(db, templates_sample, couple_photo_prompt, campaign) -> WorkflowTemplate:
    """The seed's couple-photo template: the sample's params on the seed's production prompt."""
    sample = templates_sample[0]
    template = WorkflowTemplate.objects.get(slug="couple-photo")
    template.prompt = couple_photo_prompt
    template.params = sample["params"]
    template.save()
    return template


@pytest.fixture
def shipped(db, campaign) -> WorkflowTemplate:
    """The shipped couple-photo template (stand-in character pictures, random seed)."""
    entry = json.loads((WORKFLOWS / "couple-photo.json").read_text(encoding="utf-8"))[0]
    template = WorkflowTemplate.objects.get(slug="couple-photo")
    template.prompt, template.params = entry["prompt"], entry["params"]
    template.save()
    return template


def couple_post(quantity: str = "1", **extra) -> dict:
    data = {
        "10.image": SimpleUploadedFile("me.jpg", photo(), "image/jpeg"),
        "24.text": "a woman with short hair",
        "11.image": "/static/characters/玥瑶.png",
        "12.image": SimpleUploadedFile("place.png", photo("PNG"), "image/png"),
        "quantity": quantity,
    }
    data.update(extra)
    return data


def test_template_page_renders_group_steps_and_quantity_default_one(client, seed_template):
    html = client.get("/c/couple-photo/t/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert re.search(r"上传您的照片\s*</legend>", html) and "STEP 1" not in html, "the page numbers the steps itself"
    assert re.search(r'name="quantity" value="1" checked', html), "one image unless the visitor asks for more"
    assert 'type="file"' in html


def test_the_character_gallery_is_radio_thumbnails_with_an_upload_alternative(client, shipped):
    html = client.get("/t/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html.count('<img src="/static/characters/') == 7
    assert 'name="11.image" value="/static/characters/百里东君.png"' in html
    assert 'name="11.image__upload"' in html
    assert "请选择您希望合照的角色。" in html


def test_a_valid_post_creates_one_job_and_redirects_to_it(client, shipped):
    response = client.post("/c/couple-photo/t/couple-photo/", couple_post("1"), HTTP_ACCEPT_LANGUAGE="en")
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.id}/"
    assert job.template == shipped and job.template_version == shipped.version
    assert job.prompt["24"]["inputs"]["text"] == "a woman with short hair"
    assert job.prompt["10"]["inputs"]["image"].startswith("data:image/jpeg;base64,")
    assert job.prompt["12"]["inputs"]["image"].startswith("data:image/")
    assert job.prompt["11"]["inputs"]["image"].startswith("data:image/png;base64,"), "the gallery pick is inlined"
    assert job.prompt["13"]["inputs"]["image"].startswith("data:image/png;base64,"), "the shipped mask is inlined"
    assert 0 <= job.seeds["3.seed"] < 2**53 and job.prompt["3"]["inputs"]["seed"] == job.seeds["3.seed"]
    assert job.session_key == client.session.session_key
    assert job.values["11.image"] == "/static/characters/玥瑶.png"


def test_several_images_are_one_batch_each_with_its_own_seed(client, shipped):
    response = client.post("/t/couple-photo/", couple_post("3"), HTTP_ACCEPT_LANGUAGE="en")
    jobs = list(Job.objects.all())
    assert len(jobs) == 3 and len({j.batch for j in jobs}) == 1
    assert response.status_code == 302 and response["Location"] == f"/batches/{jobs[0].batch}/"
    assert len({j.seeds["3.seed"] for j in jobs}) == 3


def test_a_gallery_pick_can_be_replaced_by_an_upload(client, shipped):
    data = couple_post("1", **{"11.image__upload": SimpleUploadedFile("mine.jpg", photo(), "image/jpeg")})
    assert client.post("/t/couple-photo/", data).status_code == 302
    assert Job.objects.get().prompt["11"]["inputs"]["image"].startswith("data:image/jpeg;base64,")


def test_a_missing_required_photo_is_shown_next_to_the_field(client, shipped):
    data = couple_post("1")
    del data["12.image"]
    response = client.post("/t/couple-photo/", data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html and "has-error" in html
    assert not Job.objects.exists()


def test_quantity_out_of_range_is_refused_next_to_the_form(client, seed_template):
    response = client.post("/t/couple-photo/", {"quantity": "9"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Choose how many images to make (1–8)." in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize("quantity", ["0", "9", "two"])
def test_quantity_outside_one_to_eight_creates_nothing_even_when_the_form_is_valid(client, shipped, quantity):
    response = client.post("/t/couple-photo/", couple_post(quantity), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Choose how many images to make (1–8)." in response.content.decode()
    assert not Job.objects.exists()


def test_text_file_renamed_jpg_gets_a_field_error(client, seed_template, tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("not an image")
    with fake.open("rb") as upload:
        response = client.post("/t/couple-photo/", {"10.image": upload, "quantity": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    html = response.content.decode()
    assert "has-error" in html
    assert "This file is not an image we can read. Please upload a JPEG, PNG or WebP photo." in html
    assert not Job.objects.exists()


def test_a_decompression_bomb_gets_a_field_error(client, shipped, settings):
    settings.UPLOAD_MAX_PIXELS = 10_000
    big = io.BytesIO()
    Image.new("L", (400, 400)).save(big, format="PNG")
    data = couple_post("1", **{"12.image": SimpleUploadedFile("bomb.png", big.getvalue(), "image/png")})
    response = client.post("/t/couple-photo/", data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "The image has too many pixels." in response.content.decode()
    assert not Job.objects.exists()


def test_field_errors_are_in_chinese_for_chinese_visitors(client, shipped):
    data = couple_post("1", **{"10.image": SimpleUploadedFile("me.jpg", b"text", "image/jpeg")})
    response = client.post("/t/couple-photo/", data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert "无法识别" in response.content.decode()


def test_a_disabled_template_is_not_found(client, shipped):
    shipped.enabled = False
    shipped.save()
    assert client.get("/t/couple-photo/").status_code == 404
