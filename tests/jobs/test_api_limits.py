"""Limits on creating jobs through the API: rates, the waiting-jobs cap, campaign quotas, CSRF."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from comfyweb.campaigns.models import Campaign, CampaignTemplate
from comfyweb.jobs.models import Job
from tests.images import data_url
from tests.jobs.conftest import photo

pytestmark = pytest.mark.django_db

RATE_MESSAGE = "Too many new jobs in a short time. Please wait a moment and try again."


def create(client, quantity: int = 1, **extra):
    payload = {"workflow": "poster-frame", "values": {"1.image": data_url(photo())}, "quantity": quantity}
    return client.post("/api/v1/jobs/", payload, format="json", HTTP_ACCEPT_LANGUAGE="en", **extra)


def test_the_waiting_jobs_cap_answers_429_with_a_clear_message(api, poster, settings):
    settings.JOB_MAX_QUEUED_PER_VISITOR = 3
    assert create(api, quantity=2).status_code == 201
    response = create(api, quantity=2)
    assert response.status_code == 429
    assert response.json() == {
        "detail": "You already have 2 images waiting. Please wait for them to finish.",
        "code": "queue_full",
    }
    assert Job.objects.count() == 2
    assert create(api, quantity=1).status_code == 201, "what still fits is accepted"


def test_the_cap_counts_the_account_of_a_token_client(poster, settings):
    settings.JOB_MAX_QUEUED_PER_VISITOR = 1
    user = get_user_model().objects.create_user("maker", password="x")
    token = Token.objects.create(user=user)
    first, second = APIClient(), APIClient()
    assert create(first, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 201
    assert create(second, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 429
    assert create(second).status_code == 201, "another (anonymous) visitor has their own cap"


def test_a_campaign_daily_quota_applies_to_its_workflows_through_the_api(api, poster):
    campaign = Campaign.objects.create(slug="frames", title="Frames", daily_quota=2)
    CampaignTemplate.objects.create(campaign=campaign, template=poster, position=1)
    assert create(api, quantity=2).status_code == 201
    response = create(api)
    assert response.status_code == 429
    assert response.json()["code"] == "quota_exceeded"
    assert "today" in response.json()["detail"]


def test_the_rate_per_visitor_is_limited(api, poster, settings):
    settings.JOB_CREATE_RATE = "2/min"
    settings.JOB_CREATE_IP_RATE = "100/min"
    assert [create(api).status_code for _ in range(3)] == [201, 201, 429]
    refused = api.post("/api/v1/jobs/", {}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.json()["detail"].startswith(RATE_MESSAGE)
    assert create(APIClient()).status_code == 201, "another visitor is not limited by the first one"


def test_the_rate_per_ip_is_limited_whoever_the_visitor_claims_to_be(poster, settings):
    settings.JOB_CREATE_RATE = "100/min"
    settings.JOB_CREATE_IP_RATE = "2/min"
    statuses = [create(APIClient(), REMOTE_ADDR="203.0.113.7").status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    spoofed = create(APIClient(), REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert spoofed.status_code == 429, "X-Forwarded-For is not trusted unless BEHIND_PROXY"
    assert create(APIClient(), REMOTE_ADDR="203.0.113.8").status_code == 201


def test_reading_is_not_rate_limited(api, poster, settings):
    settings.JOB_CREATE_RATE = "1/min"
    assert create(api).status_code == 201
    assert [api.get("/api/v1/jobs/").status_code for _ in range(3)] == [200, 200, 200]


def test_a_logged_in_browser_session_needs_the_csrf_token(poster):
    user = get_user_model().objects.create_user("browser", password="x")
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    response = create(browser)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Job.objects.exists()


def test_an_anonymous_session_cookie_needs_the_csrf_token_too(poster):
    session = SessionStore()
    session.create()  # an anonymous visitor who used the pages: their jobs belong to this session
    browser = APIClient(enforce_csrf_checks=True)
    browser.cookies["sessionid"] = session.session_key
    response = create(browser)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_client_without_cookies_or_with_a_token_needs_no_csrf_token(poster):
    assert create(APIClient(enforce_csrf_checks=True)).status_code == 201
    user = get_user_model().objects.create_user("script", password="x")
    token = Token.objects.create(user=user)
    scripted = APIClient(enforce_csrf_checks=True)
    assert create(scripted, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 201
    assert Job.objects.filter(owner=user).count() == 1


def test_an_anonymous_session_with_its_csrf_token_owns_what_it_creates(poster):
    session = SessionStore()
    session.create()
    browser = APIClient(enforce_csrf_checks=True)
    browser.cookies["sessionid"] = session.session_key
    browser.cookies["csrftoken"] = "k" * 32
    assert create(browser, HTTP_X_CSRFTOKEN="k" * 32).status_code == 201
    assert Job.objects.get().session_key == session.session_key
