"""Payloads in every operator field never run in a real browser: no dialog opens on any page.

Twice: with the Content-Security-Policy on (then an injection that CSP blocked would still fail the
test, as a CSP violation, see conftest.py) and with it off, so escaping alone is shown to hold.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.operator_payloads import MARK, seed_payloads, visitor_pages

pytestmark = pytest.mark.browser


def _log_in(page, live_server_url: str):
    """The browser gets a staff session (the jobs are theirs, and the admin opens)."""
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "x")
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server_url}]
    )
    return user


def operator_pages(seeded) -> list[str]:
    """The API and admin pages that show operator text (the visitor pages are the shared list)."""
    template, campaign = seeded["templates"][0], seeded["campaign"]
    return [
        "/api/v1/workflows/",
        f"/api/v1/workflows/{template.slug}/",
        "/api/v1/docs/",
        "/admin/catalog/workflowtemplate/",
        f"/admin/catalog/workflowtemplate/{template.pk}/change/",
        f"/admin/catalog/workflowtemplate/{template.pk}/preview/",
        f"/admin/catalog/workflowtemplate/{template.pk}/preview/?version=1",
        f"/admin/catalog/workflowtemplate/{template.pk}/versions/",
        f"/admin/catalog/workflowtemplate/{template.pk}/versions/1/",
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
    ]


@pytest.mark.parametrize("csp", ["on", "off"])
def test_no_payload_runs_on_any_page(django_page, live_server, settings, csp, shot):
    if csp == "off":
        settings.SECURE_CSP = {}
    user = _log_in(django_page, live_server.url)
    seeded = seed_payloads(owner=user)
    for path in [*visitor_pages(seeded), *operator_pages(seeded)]:
        answer = django_page.goto(path, wait_until="load")
        assert answer is not None and answer.ok, f"{path}: {answer.status if answer else 'no answer'}"
        if csp == "on":
            assert "script-src 'self'" in answer.headers.get("content-security-policy", "")
        if path.endswith(f"/workflowtemplate/{seeded['templates'][0].pk}/change/"):
            # The editor's live preview draws the same texts in a frame of the page.
            django_page.frame_locator("iframe.studio-iframe").locator("h1").wait_for()
        django_page.mouse.move(10, 10)
        django_page.mouse.move(200, 400)  # hover handlers, had any been injected
        django_page.wait_for_timeout(50)
        assert not django_page.watch.dialogs, f"{path}: a payload ran: {django_page.watch.dialogs}"
        assert MARK in django_page.content() or path == "/api/v1/docs/", f"{path}: the operator text is shown"
    django_page.goto(f"/t/{seeded['templates'][0].slug}/")
    shot(django_page, f"09-operator-text-escaped-csp-{csp}")
    assert not django_page.watch.dialogs
