"""The admin log-in is throttled (django-axes): wrong passwords lock a user name from one address."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model

PASSWORD = "right-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # tests only: fast


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)


def _login(client, username: str, password: str, ip: str = "203.0.113.7", language: str = "en"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE=language,
    )


def test_after_the_failure_limit_even_the_right_password_is_refused_with_a_clear_message(client, admin_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        answer = _login(client, "boss", "wrong")
        assert answer.status_code == 200, "a wrong password shows the form again"
    locked = _login(client, "boss", "wrong")
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    assert locked["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))

    answer = _login(client, "boss", PASSWORD)
    assert answer.status_code == 429, "the right password does not get through a lockout"
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302, "still not logged in"


def test_the_lockout_page_speaks_the_visitors_language(client, admin_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = _login(client, "boss", "wrong", language="zh-hans")
    assert locked.status_code == 429
    assert "登录已锁定" in locked.content.decode()


def test_the_lock_is_per_user_name_and_address(client, admin_user, settings):
    get_user_model().objects.create_superuser("other", "other@example.com", PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "boss", "wrong", ip="203.0.113.7")
    assert _login(client, "boss", PASSWORD, ip="203.0.113.7").status_code == 429

    assert _login(client, "other", PASSWORD, ip="203.0.113.7").status_code == 302, "another user name from there"
    client.logout()
    assert _login(client, "boss", PASSWORD, ip="198.51.100.9").status_code == 302, "the same name from elsewhere"


def test_staff_unlock_in_the_axes_admin(client, admin_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "boss", "wrong")
    assert _login(client, "boss", PASSWORD).status_code == 429

    staff = client.__class__()
    staff.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD))
    listing = staff.get("/admin/axes/accessattempt/", HTTP_ACCEPT_LANGUAGE="en")
    assert listing.status_code == 200
    assert "boss" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="boss")
    confirm = staff.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert confirm.status_code == 302
    assert not AccessAttempt.objects.filter(username="boss").exists()

    assert _login(client, "boss", PASSWORD).status_code == 302, "unlocked: the right password logs in"


def test_a_successful_login_clears_the_failures(client, admin_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "boss", "wrong")
    assert _login(client, "boss", PASSWORD).status_code == 302
    client.logout()
    assert _login(client, "boss", "wrong").status_code == 200, "one more failure does not lock after a success"


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(client, admin_user, settings):
    """BEHIND_PROXY: the last X-Forwarded-For hop counts (the one the proxy wrote), not what the client sent."""
    settings.BEHIND_PROXY = True
    for index in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/admin/login/?next=/admin/",
            {"username": "boss", "password": "wrong"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{index}, 203.0.113.50",  # the client forges the first hop each time
        )
    answer = client.post(
        "/admin/login/?next=/admin/",
        {"username": "boss", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.50",
    )
    assert answer.status_code == 429
    assert AccessAttempt.objects.get(username="boss").ip_address == "203.0.113.50"
