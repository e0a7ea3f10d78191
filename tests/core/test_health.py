from __future__ import annotations

from unittest import mock

from django.db import OperationalError


def test_healthz_answers_ok_when_the_database_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_liveness_and_does_not_ask_the_database(client, db):
    """A database outage must not make the orchestrator restart every web process: that is /readyz's job."""
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("gone")):
        alive = client.get("/healthz")
        ready = client.get("/readyz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    assert ready.status_code == 503 and "gone" in ready.json()["checks"]["database"]


def test_favicon_ico_points_at_the_svg_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")


POD_IP = "10.1.2.3:8000"


def test_probes_and_scrapers_reach_a_pod_by_its_ip(client, db, settings):
    settings.ALLOWED_HOSTS = ["comfyweb.example.com"]
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/healthz", HTTP_HOST=POD_IP).status_code == 200
    scraped = client.get("/metrics", HTTP_HOST=POD_IP, HTTP_AUTHORIZATION="Bearer s3cret")
    assert scraped.status_code == 200 and b"comfyweb_websocket_watchers" in scraped.content


def test_by_ip_only_those_answer_and_only_with_the_token(client, db, settings):
    settings.ALLOWED_HOSTS = ["comfyweb.example.com"]
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", HTTP_HOST=POD_IP, HTTP_AUTHORIZATION="Bearer wrong").status_code == 400
    assert client.get("/metrics", HTTP_HOST=POD_IP).status_code == 400
    assert client.get("/", HTTP_HOST=POD_IP).status_code == 400
    assert client.post("/healthz", HTTP_HOST=POD_IP).status_code == 400
    named = client.get("/metrics", HTTP_HOST="comfyweb.example.com", HTTP_AUTHORIZATION="Bearer wrong")
    assert named.status_code == 403
