from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone


def test_landing_lists_the_campaign_templates_in_operator_order(client, campaign):
    html = client.get("/c/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "破次元壁合照" in html
    assert html.index("/c/couple-photo/t/couple-photo/") < html.index("/c/couple-photo/t/background-swap/")


def test_landing_of_a_disabled_campaign_is_not_found(client, campaign):
    campaign.enabled = False
    campaign.save()
    assert client.get("/c/couple-photo/").status_code == 404


def test_ended_campaign_says_so_politely(client, campaign):
    campaign.ends_at = timezone.now() - timedelta(hours=1)
    campaign.save()
    html = client.get("/c/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This campaign has ended" in html


def test_upcoming_campaign_says_when_it_starts(client, campaign):
    campaign.starts_at = timezone.now() + timedelta(days=2)
    campaign.save()
    html = client.get("/c/couple-photo/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This campaign starts on" in html


def test_campaign_theme_colours_reach_the_page(client, campaign):
    """The colours come as a stylesheet of this site (no inline <style>: Content-Security-Policy)."""
    campaign.primary_color = "#123456"
    campaign.save()
    html = client.get("/c/couple-photo/").content.decode()
    assert "<style" not in html
    href = re.search(r'<link rel="stylesheet" href="(/c/couple-photo/theme\.css[^"]*)"', html).group(1)
    theme = client.get(href.replace("&amp;", "&"))
    assert theme["Content-Type"].startswith("text/css")
    assert "--primary:#123456" in theme.content.decode()


def test_a_colour_that_is_not_a_colour_never_reaches_the_stylesheet(client, campaign):
    campaign.accent_color = "red}*{"
    campaign.save()
    css = client.get("/c/couple-photo/theme.css").content.decode()
    assert "red}" not in css
    assert "--accent:#6d5dfc" in css


def test_template_outside_the_campaign_is_not_found(client, campaign, make_template):
    make_template("other")
    assert client.get("/c/couple-photo/t/other/").status_code == 404
