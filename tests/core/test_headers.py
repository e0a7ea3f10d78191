"""Security headers on every page: a strict CSP, no framing, Referrer-Policy, Permissions-Policy; HSTS with HTTPS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
TEMPLATES = BASE_DIR / "templates"


def _directives(header: str) -> dict[str, list[str]]:
    found = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            found[words[0]] = words[1:]
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/me/", "/admin/login/", "/api/v1/docs/"])
def test_every_page_has_a_strict_content_security_policy(client, path):
    answer = client.get(path, follow=True)
    assert answer.status_code == 200
    policy = _directives(answer["Content-Security-Policy"])
    for directive in ("script-src", "style-src"):
        assert "'self'" in policy[directive]
        assert "'unsafe-inline'" not in policy[directive] and "'unsafe-eval'" not in policy[directive]
        assert all(source == "'self'" or source.startswith("'nonce-") for source in policy[directive])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    assert {"'self'", "data:", "blob:"} <= set(policy["img-src"])


@pytest.mark.django_db
def test_visitor_pages_need_no_nonce_and_the_api_docs_carry_one(client):
    home = client.get("/")
    assert "nonce-" not in home["Content-Security-Policy"], "visitor pages have no inline code at all"
    docs = client.get("/api/v1/docs/")
    nonce = re.search(r"'nonce-([^']+)'", docs["Content-Security-Policy"]).group(1)
    html = docs.content.decode()
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline_scripts, "the Swagger UI page starts with an inline script"
    assert all(f'nonce="{nonce}"' in attrs for attrs in inline_scripts)
    assert all(f'nonce="{nonce}"' in attrs for attrs in re.findall(r"<style([^>]*)>", html))


@pytest.mark.django_db
def test_framing_referrer_permissions_and_sniffing(client):
    answer = client.get("/")
    assert answer["X-Frame-Options"] == "DENY"
    assert answer["Referrer-Policy"] == "same-origin"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = answer["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in permissions


def _settings_in_a_process(**env: str) -> dict:
    """Read settings the way a deployment would, from its environment, in a fresh process."""
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "from django.test import Client; c = Client(); "
        "plain = c.get('/favicon.ico'); secure = c.get('/favicon.ico', secure=True); "
        "print(json.dumps({'hsts': getattr(s, 'SECURE_HSTS_SECONDS', 0), 'redirect': s.SECURE_SSL_REDIRECT, "
        "'cookie': s.SESSION_COOKIE_SECURE, 'csrf_cookie': s.CSRF_COOKIE_SECURE, "
        "'plain': [plain.status_code, plain.get('Location', '')], "
        "'probes': [c.get('/healthz').status_code, c.get('/readyz').status_code], "
        "'secure_hsts': secure.get('Strict-Transport-Security', ''), 'img_src': s.SECURE_CSP['img-src']}))"
    )
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "comfyweb.settings", "EMBEDDED_DEV": "1", **env}
    for name in (
        "HTTPS",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "DEBUG",
        "MEDIA_URL",
        "CSP_IMG_ORIGINS",
        "REDIS_URL",
    ):
        if name not in env:
            full_env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=full_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_https_turns_on_hsts_secure_cookies_and_the_redirect():
    seen = _settings_in_a_process(HTTPS="1")
    assert seen["hsts"] >= 365 * 24 * 3600
    assert seen["redirect"] is True
    assert seen["cookie"] is True and seen["csrf_cookie"] is True
    assert seen["plain"][0] == 301 and seen["plain"][1].startswith("https://")
    assert seen["secure_hsts"].startswith("max-age=")
    assert seen["probes"] == [200, 200], "probes speak plain HTTP to the pod: no redirect"


def test_without_https_there_is_no_hsts_and_no_redirect():
    seen = _settings_in_a_process()
    assert seen["hsts"] == 0
    assert seen["redirect"] is False
    assert seen["plain"][0] != 301 or not seen["plain"][1].startswith("https://")
    assert seen["secure_hsts"] == ""


def test_the_media_host_and_extra_image_hosts_are_allowed_images():
    seen = _settings_in_a_process(MEDIA_URL="https://media.example.com/m/", CSP_IMG_ORIGINS="https://cdn.example.com")
    assert "https://media.example.com" in seen["img_src"]
    assert "https://cdn.example.com" in seen["img_src"]
