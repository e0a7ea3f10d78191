"""What a photo costs on the template page: the rate limit first (no decode), a bounded number of decodes.

A submission over the rate limit is refused before its photo is decoded (429 with Retry-After, the
typed values kept); when every decode slot of the process stays taken, the visitor is asked to try
again shortly (503 with Retry-After, in their language), and nothing is created. The memory of a real
server under eight 40-megapixel uploads: tests/campaigns/test_upload_memory.py.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.comfy.images import decode_slots
from comfyweb.jobs.models import Job
from tests.images import every_decode_slot_taken

pytestmark = pytest.mark.django_db

BUSY = {
    "en": "Many photos are being checked right now. Please try again in a moment.",
    "zh-hans": "现在有很多照片正在检查中。请稍后再试。",
}


@pytest.fixture
def template() -> WorkflowTemplate:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "", "upload": "image"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "cost"}},
    }
    params = [
        {"type": "image", "id": "1", "key": "image", "title": "Photo"},
        {"type": "string", "id": "2", "key": "text", "title": "Words"},
    ]
    return WorkflowTemplate.objects.create(slug="cost", title="Cost", prompt=prompt, params=params)


def form(text: str = "a dog on a sofa") -> dict:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 90, 40)).save(out, format="JPEG")
    return {"1.image": SimpleUploadedFile("me.jpg", out.getvalue(), "image/jpeg"), "2.text": text, "quantity": "1"}


def test_a_submission_over_the_rate_limit_is_refused_before_its_photo_is_decoded(template, settings):
    settings.JOB_CREATE_IP_RATE = "1/min"
    client = Client()
    assert client.post("/t/cost/", form(), HTTP_ACCEPT_LANGUAGE="en").status_code == 302
    slots = decode_slots(settings.IMAGE_DECODES_AT_ONCE)
    decoded = slots.decoded
    refused = client.post("/t/cost/", form("a second dog"), HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    html = refused.content.decode()
    assert "Too many new jobs in a short time" in html
    assert 'value="a second dog"' in html, "what the visitor typed is still there"
    assert slots.decoded == decoded, "the refused photo was never decoded"
    assert Job.objects.count() == 1


@pytest.mark.parametrize("language", BUSY)
def test_every_decode_slot_taken_asks_the_visitor_to_try_again_shortly(template, settings, language):
    settings.IMAGE_DECODES_AT_ONCE, settings.IMAGE_DECODE_WAIT = 1, 0.2
    with every_decode_slot_taken(1) as slots:
        refused = Client().post("/t/cost/", form(), HTTP_ACCEPT_LANGUAGE=language)
    assert refused.status_code == 503 and refused["Retry-After"] == "1"
    html = refused.content.decode()
    assert BUSY[language] in html and 'value="a dog on a sofa"' in html
    assert slots.refused >= 1 and not Job.objects.exists()
    accepted = Client().post("/t/cost/", form(), HTTP_ACCEPT_LANGUAGE=language)
    assert accepted.status_code == 302 and Job.objects.count() == 1, "the next try, once a slot is free, goes in"
