"""Consent for photos of people: asked by a campaign or a template, refused without it (form and REST API),
recorded with the job; the privacy statement is a page per campaign."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from comfyweb.campaigns.models import Campaign
from comfyweb.jobs.models import Job, StoredInput

pytestmark = pytest.mark.django_db

FORM = "/c/wedding/t/portrait/"


def post_photo(client, photo: bytes, language: str, **extra):
    data = {"1.image": SimpleUploadedFile("me.jpg", photo, content_type="image/jpeg"), "quantity": "1", **extra}
    return client.post(FORM, data, HTTP_ACCEPT_LANGUAGE=language)


def test_the_box_shows_the_campaigns_text_in_each_language_unticked(client, consent_campaign):
    zh = client.get(FORM, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = client.get(FORM, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "我同意使用我的照片。" in zh and "I agree my photos are used." in en
    for html in (zh, en):
        box = html[html.index('name="consent"') - 40 : html.index("data-consent-box")]
        assert "checked" not in box, "consent is never ticked for the visitor"
        assert f'href="{consent_campaign.privacy_url}"' in html


@pytest.mark.parametrize(("language", "message"), [("en", "Please tick the box"), ("zh-hans", "请勾选同意")])
def test_without_the_tick_the_photo_is_refused_and_not_kept(client, consent_campaign, plain_photo, language, message):
    response = post_photo(client, plain_photo, language)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Job.objects.exists()
    assert not StoredInput.objects.exists(), "no photo is kept without consent"
    assert "__held" not in response.content.decode()


def test_with_the_tick_the_job_records_the_version_and_time(client, consent_campaign, plain_photo):
    before = timezone.now()
    response = post_photo(client, plain_photo, "en", consent="yes")
    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get()
    assert job.consent_version == "wedding/1"
    assert before <= job.consent_at <= timezone.now()


def test_a_new_consent_text_is_a_new_version(client, consent_campaign, plain_photo):
    consent_campaign.translations["en"]["consent_text"] = "I agree, and more."
    consent_campaign.save()
    consent_campaign.title = "Another title"
    consent_campaign.save()  # other changes keep the version
    assert Campaign.objects.get().consent_version == 2
    post_photo(client, plain_photo, "en", consent="yes")
    assert Job.objects.get().consent_version == "wedding/2"


def test_a_template_that_asks_uses_the_sites_text_outside_campaigns(client, photo_template, plain_photo):
    photo_template.requires_consent = True
    photo_template.save(update_fields=["requires_consent"])
    page = client.get("/t/portrait/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "used only to make these images" in page and 'href="/privacy/"' in page
    data = {"1.image": SimpleUploadedFile("me.jpg", plain_photo, content_type="image/jpeg"), "quantity": "1"}
    assert client.post("/t/portrait/", data).status_code == 400
    data["1.image"].seek(0)
    assert client.post("/t/portrait/", {**data, "consent": "yes"}).status_code == 302
    assert Job.objects.get().consent_version == "site/1"


def test_no_consent_is_asked_when_nobody_asks(client, photo_template, plain_photo):
    assert 'name="consent"' not in client.get("/t/portrait/").content.decode()
    data = {"1.image": SimpleUploadedFile("me.jpg", plain_photo, content_type="image/jpeg"), "quantity": "1"}
    assert client.post("/t/portrait/", data).status_code == 302
    assert Job.objects.get().consent_version == ""


def test_the_rest_api_refuses_a_photo_without_consent(api_client, consent_campaign, plain_photo):
    data_url = "data:image/jpeg;base64," + base64.b64encode(plain_photo).decode()
    body = {"workflow": "portrait", "values": {"1.image": data_url}}
    refused = api_client.post("/api/v1/jobs/", body, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "consent_required"
    assert not Job.objects.exists() and not StoredInput.objects.exists()
    accepted = api_client.post("/api/v1/jobs/", {**body, "consent": True}, format="json")
    assert accepted.status_code == 201, accepted.json()
    assert Job.objects.get().consent_version == "wedding/1"


def test_a_retry_keeps_the_consent_of_its_photos(consent_campaign, plain_photo, client):
    from comfyweb.jobs.services import retry_job

    post_photo(client, plain_photo, "en", consent="yes")
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)
    job.refresh_from_db()
    [again] = retry_job(job=job)
    assert (again.consent_version, again.consent_at) == (job.consent_version, job.consent_at)


@pytest.mark.parametrize(("language", "heading"), [("en", "Privacy statement"), ("zh-hans", "隐私声明")])
def test_the_privacy_statement_is_a_page_per_campaign(client, consent_campaign, language, heading):
    consent_campaign.keep_uploads_days = 3
    consent_campaign.save()
    html = client.get(consent_campaign.privacy_url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert heading in html
    assert ("3 days" if language == "en" else "3 天") in html
    assert ("30 days" if language == "en" else "30 天") in html  # images: the site's default
    assert ("I agree my photos are used." if language == "en" else "我同意使用我的照片。") in html
    assert "/me/" in html, "it says how to delete"


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def test_operators_find_the_settings_in_the_admin(admin_client, consent_campaign, photo_template):
    template_page = admin_client.get(f"/admin/catalog/workflowtemplate/{photo_template.pk}/change/").content.decode()
    assert 'name="requires_consent"' in template_page
    campaign_page = admin_client.get(f"/admin/campaigns/campaign/{consent_campaign.pk}/change/").content.decode()
    for name in ("consent_required", "consent_text", "privacy_purpose", "keep_uploads_days", "keep_outputs_days",
                 "input_threshold", "output_threshold", "label_visible", "label_text", "label_badge",
                 "label_position", "label_size", "translations.en.consent_text"):  # fmt: skip
        assert f'name="{name}"' in campaign_page, name


def test_the_templates_own_page_asks_for_the_consent_of_a_campaign_offering_it(client, consent_campaign, plain_photo):
    page = client.get("/t/portrait/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "I agree my photos are used." in page and f'href="{consent_campaign.privacy_url}"' in page
    data = {"1.image": SimpleUploadedFile("me.jpg", plain_photo, content_type="image/jpeg"), "quantity": "1"}
    assert client.post("/t/portrait/", data).status_code == 400
    data["1.image"].seek(0)
    assert client.post("/t/portrait/", {**data, "consent": "yes"}).status_code == 302
    job = Job.objects.get()
    assert (job.consent_version, job.campaign) == ("wedding/1", "wedding")
