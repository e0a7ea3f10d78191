"""Fixtures of the trust tests: photos (plain and flagged), the marker check, campaigns and templates."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from comfyweb.campaigns.models import Campaign, CampaignTemplate
from comfyweb.catalog.models import WorkflowTemplate
from tests.trust.checks import MAGENTA

MARKER_CHECKS = ["tests.trust.checks.MarkerCheck", "comfyweb.jobs.trust.words.WordListCheck"]
PHOTO_PARAMS = [{"type": "image", "id": "1", "key": "image", "title": "Your photo"}]
TEXT_PARAMS = [{"type": "string", "id": "2", "key": "text", "title": "Your words"}]


def picture(colour=(200, 170, 150), size=(96, 80), fmt="JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def photo_prompt() -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": ""}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t"}},
    }


def solid_prompt(colour: int, size: int = 256) -> dict:
    """A workflow whose output is one flat colour (the emulator's EmptyImage)."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1, "color": colour}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "solid"}},
    }


@pytest.fixture
def marker_checks(settings):
    settings.MODERATION_CHECKS = MARKER_CHECKS
    return settings


@pytest.fixture
def photo_template(db) -> WorkflowTemplate:
    return WorkflowTemplate.objects.create(
        slug="portrait", title="Portrait", prompt=photo_prompt(), params=PHOTO_PARAMS
    )


@pytest.fixture
def consent_campaign(db, photo_template) -> Campaign:
    campaign = Campaign.objects.create(
        slug="wedding",
        title="婚礼合照",
        consent_required=True,
        consent_text="我同意使用我的照片。",
        translations={"en": {"title": "Wedding photos", "consent_text": "I agree my photos are used."}},
    )
    CampaignTemplate.objects.create(campaign=campaign, template=photo_template, position=1)
    return campaign


@pytest.fixture
def magenta_photo() -> bytes:
    return picture(MAGENTA)


@pytest.fixture
def plain_photo() -> bytes:
    return picture()
