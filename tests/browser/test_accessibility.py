"""axe-core finds no serious or critical problem on the visitor pages, in both languages, on a desktop and
a 390 px phone; each page is saved as a screenshot in test-artifacts/browser/ for a person to look at."""

from __future__ import annotations

import pytest

from tests.browser.a11y import assert_no_serious_violations
from tests.browser.conftest import ARTIFACTS, BrowserWatch
from tests.browser.visitor_data import add_session_cookie, visitor_with_work

pytestmark = pytest.mark.browser

LANGUAGES = {"zh": "zh-CN", "en": "en-US"}
# What the couple-photo campaign and its template say in each language (per-language content).
CONTENT = {
    "zh": {"campaign": ["破次元壁合照", "和你喜欢的角色拍一张合照"], "template": ["上传您的照片", "选择角色", "玥瑶"]},
    "en": {
        "campaign": ["Step into their world", "Your photo with a character", "Background swap"],
        "template": ["Upload your photo", "Choose a character", "Upload a background", "Yue Yao"],
    },
}
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_visitor_pages_have_no_serious_axe_violations(browser, live_server, transactional_db, shot, language):
    work = visitor_with_work()
    context = browser.new_context(base_url=live_server.url, locale=LANGUAGES[language], viewport=WIDTHS["desktop"])
    context.set_default_timeout(15_000)
    watch = BrowserWatch(context)
    add_session_cookie(context, live_server.url, work["session"])
    page = context.new_page()
    pages = {
        "home": "/",
        "campaign": "/c/couple-photo/",
        "template": "/c/couple-photo/t/couple-photo/",
        "job": f"/jobs/{work['single'].pk}/",
        "batch": f"/batches/{work['batch']}/",
        "creations": "/me/",
    }
    try:
        for width, viewport in WIDTHS.items():
            page.set_viewport_size(viewport)
            for name, url in pages.items():
                page.goto(url)
                page.wait_for_load_state("load")
                assert_no_serious_violations(page, f"{name} ({language}, {width})")
                for text in CONTENT[language].get(name, []):
                    assert text in page.locator("main").inner_text(), f"{name} ({language}) lacks {text!r}"
                shot(page, f"a11y-{name}-{language}-{width}")
            # Keyboard focus is visible: from the text box, Tab reaches the character gallery.
            page.goto(pages["template"])
            page.locator("textarea[name='24.text']").click()
            page.keyboard.press("Tab")
            focused = page.locator(".gallery .choice:has(input:focus-visible)")
            assert focused.count() == 1
            assert focused.evaluate("el => getComputedStyle(el).outlineStyle") != "none"
            # A refused form: the field errors and their descriptions.
            page.goto(pages["template"])
            page.locator("[data-submit]").click()
            page.wait_for_selector(".field.has-error")
            assert_no_serious_violations(page, f"template with errors ({language}, {width})")
            shot(page, f"a11y-template-errors-{language}-{width}")
            # The image viewer, open.
            page.goto(pages["batch"])
            page.locator("a[data-lightbox-item]").first.click()
            page.wait_for_selector("dialog[data-lightbox][open]")
            assert_no_serious_violations(page, f"image viewer ({language}, {width})")
            page.screenshot(path=str(ARTIFACTS / f"a11y-viewer-{language}-{width}.png"))  # the viewport: a modal
    finally:
        context.close()
    watch.fail_on_csp_violations()
