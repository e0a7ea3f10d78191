from __future__ import annotations

import pytest

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job

pytest.importorskip("comfyweb.catalog.forms", reason="the catalog form builder is not available")


@pytest.fixture
def seed_template(db, templates_sample, campaign) -> WorkflowTemplate:
    sample = templates_sample[0]
    template = WorkflowTemplate.objects.get(slug="couple-photo")
    template.prompt = sample["prompt"]
    template.params = sample["params"]
    template.save()
    return template


def test_template_page_renders_group_steps_and_quantity_default_four(client, seed_template):
    html = client.get("/c/couple-photo/t/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert "STEP 1 - 上传您的照片" in html
    assert 'name="quantity" value="4" checked' in html
    assert 'type="file"' in html


def test_quantity_out_of_range_is_refused_next_to_the_form(client, seed_template):
    response = client.post("/t/couple-photo/", {"quantity": "9"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Choose how many images to make (1–8)." in response.content.decode()
    assert not Job.objects.exists()


def test_text_file_renamed_jpg_gets_a_field_error(client, seed_template, tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("not an image")
    with fake.open("rb") as upload:
        response = client.post("/t/couple-photo/", {"10.image": upload, "quantity": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "has-error" in response.content.decode()
    assert not Job.objects.exists()
