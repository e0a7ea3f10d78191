"""The language switcher in a real browser (no job runner needed)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_language_switcher_turns_the_page_english(django_page, shot):
    django_page.goto("/")
    assert django_page.locator("html").get_attribute("lang") == "zh-hans"
    django_page.select_option("#lang-select", "en")
    django_page.locator("form.lang button[type=submit]").click()
    django_page.wait_for_selector("html[lang='en']")  # (no wait_for_function: the page's CSP forbids eval)
    assert django_page.get_by_role("link", name="My creations").is_visible()
    shot(django_page, "06-english")
