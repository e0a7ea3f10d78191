from __future__ import annotations

import pytest

from comfyweb.campaigns.models import Campaign
from comfyweb.core.templatetags.comfyweb_tags import image_src


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("op", "op@example.com", "pw"))
    return client


def test_operator_edits_a_campaign_and_its_templates_in_the_admin(staff_client, campaign):
    assert staff_client.get("/admin/campaigns/campaign/").status_code == 200
    page = staff_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="daily_quota"' in page and "entries-0-template" in page and 'name="starts_at_0"' in page


def test_admin_add_creates_an_enabled_campaign(staff_client, db):
    response = staff_client.post(
        "/admin/campaigns/campaign/add/",
        {
            "slug": "new",
            "title": "New",
            "primary_color": "#000000",
            "accent_color": "#ffffff",
            "daily_quota": "5",
            "enabled": "on",
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert Campaign.objects.get(slug="new").daily_quota == 5


@pytest.mark.parametrize(
    ("given", "src"),
    [
        ("img/hero.svg", "/static/img/hero.svg"),
        ("/media/x.png", "/media/x.png"),
        ("https://cdn.example.com/a.png", "https://cdn.example.com/a.png"),
        ("", ""),
    ],
)
def test_image_src_accepts_urls_paths_and_static_names(given, src):
    assert image_src(given) == src


@pytest.mark.parametrize(
    "given",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "vbscript:msgbox(1)",
        "//evil.example/x.png",
        "ftp://example.com/x.png",
    ],
)
def test_image_src_gives_no_image_for_script_urls_and_other_schemes(given):
    """Operator text is data: only http(s), site paths and raster data: images become a src."""
    assert image_src(given) == ""


def test_image_src_keeps_raster_data_images():
    assert image_src("data:image/png;base64,iVBORw0KGgo=") == "data:image/png;base64,iVBORw0KGgo="


def test_campaign_colours_must_be_plain_colours(admin_client, db):
    response = admin_client.post(
        "/admin/campaigns/campaign/add/",
        {
            "slug": "bad",
            "title": "Bad",
            "primary_color": "red;}*{",
            "accent_color": "#6d5dfc",
            "daily_quota": "0",
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "Enter a colour as #rrggbb." in response.content.decode()
    assert not Campaign.objects.filter(slug="bad").exists()
