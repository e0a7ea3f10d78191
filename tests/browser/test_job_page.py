"""The job page as a person sees it: status and bar in the first screen, a wait that counts down, one
"try again", a queue with cancel-all, a form that says what to fix, and a viewer whose buttons fit a phone.

These pages need jobs in given states, not a runner: pytest-django's live server and jobs made in its database.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.a11y import assert_no_serious_violations
from tests.browser.conftest import ARTIFACTS, BrowserWatch
from tests.browser.visitor_data import add_session_cookie, load_demo, make_job, visitor_session, visitor_with_work

pytestmark = pytest.mark.browser

LANGUAGES = {"en": "en-US", "zh": "zh-CN"}
SIZES = [(1280, 720), (1366, 768), (390, 844)]


def _context(browser, base_url: str, language: str, size: tuple[int, int] = (390, 844)):
    width, height = size
    context = browser.new_context(
        base_url=base_url, locale=LANGUAGES[language], viewport={"width": width, "height": height}
    )
    context.set_default_timeout(15_000)
    return context, BrowserWatch(context)


def _inside_first_screen(page, selector: str) -> bool:
    """Seen without scrolling: inside the viewport, and what is drawn at its middle is the element itself."""
    element = page.locator(selector).first
    box = element.bounding_box()
    viewport = page.viewport_size
    if box is None or box["y"] < 0 or box["y"] + box["height"] > viewport["height"] or box["x"] < 0:
        return False
    if box["x"] + box["width"] > viewport["width"]:
        return False
    return element.evaluate(
        "el => { const r = el.getClientRects()[0];"
        " const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
        " return !!hit && (hit === el || el.contains(hit)); }"
    )


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_status_and_the_bar_are_in_the_first_screen_at_every_size(browser, live_server, transactional_db, language):
    work = visitor_with_work()
    single = make_job(work["session"], "background-swap", status="running")
    context, watch = _context(browser, live_server.url, language)
    add_session_cookie(context, live_server.url, work["session"])
    page = context.new_page()
    card = '[data-job-id][data-status="running"]'
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        where = f"{language} {width}x{height}"
        page.goto(f"/jobs/{single.pk}/")
        page.wait_for_load_state("load")
        assert _inside_first_screen(page, f"{card} .bar"), f"job page {where}: the bar is below the fold"
        assert _inside_first_screen(page, f"{card} [data-status-text]"), f"job page {where}: the status is not seen"
        media = page.locator(f"{card} .job-media").bounding_box()
        assert media["height"] >= 250 and media["width"] >= 250, f"job page {where}: the picture area is too small"
        page.screenshot(path=str(ARTIFACTS / f"job-page-{language}-{width}x{height}.png"))
        assert_no_serious_violations(page, f"job page ({where})")
        # A batch says at its top which image is being painted, whichever card that is.
        page.goto(f"/batches/{work['batch']}/")
        page.wait_for_load_state("load")
        assert _inside_first_screen(page, "[data-batch-now]"), f"batch {where}"
        assert re.search(r"(Image|第) 3", page.locator("[data-batch-now]").text_content())
        if width > 600:
            assert _inside_first_screen(page, f"{card} [data-status-text]"), f"batch {where}: the status"
        page.screenshot(path=str(ARTIFACTS / f"batch-page-{language}-{width}x{height}.png"))
    context.close()
    watch.fail_on_csp_violations()


def test_about_n_seconds_counts_down_while_the_job_waits(browser, live_server, transactional_db):
    load_demo()
    key = visitor_session()
    template_job = make_job(key, "poster-frame")  # a measured run: 40 s
    ended = timezone.now()
    type(template_job).objects.filter(pk=template_job.pk).update(
        started_at=ended - timedelta(seconds=40), finished_at=ended
    )
    waiting = make_job(key, "poster-frame", status="queued")
    context, watch = _context(browser, live_server.url, "en", (1280, 720))
    add_session_cookie(context, live_server.url, key)
    page = context.new_page()
    page.goto(f"/jobs/{waiting.pk}/")
    status = page.locator("[data-status-text]")
    first = re.search(r"number 1 · about (\d+) s", status.text_content())
    assert first, status.text_content()
    page.wait_for_function(
        "n => /about (\\d+) s/.test(document.querySelector('[data-status-text]').textContent) && +RegExp.$1 <= n - 2",
        arg=int(first.group(1)),
        timeout=10_000,
    )
    context.close()
    watch.fail_on_csp_violations()


def test_my_queue_lists_waiting_work_across_batches_and_cancels_all_of_it(browser, live_server, transactional_db, shot):
    load_demo()
    key = visitor_session()
    batch = uuid.uuid4()
    for _ in range(2):
        make_job(key, batch=batch, status="queued")
    make_job(key, "poster-frame", status="queued")
    make_job(key, "poster-frame")  # done: in my creations, not in the queue
    other = visitor_session()
    theirs = make_job(other, "poster-frame", status="queued")
    context, watch = _context(browser, live_server.url, "en")
    add_session_cookie(context, live_server.url, key)
    page = context.new_page()
    page.goto("/")
    page.locator("nav a", has_text="My queue").click()
    page.wait_for_url(re.compile(r"/me/queue/"))
    assert page.locator("[data-job-id]").count() == 3
    assert page.locator(".job-label", has_text="Image 2").count() == 1
    assert_no_serious_violations(page, "my queue")
    shot(page, "queue-en-390")
    page.locator("[data-cancel-all]").click()
    page.locator("[data-cancel-all-confirm]").click()
    page.wait_for_selector(".notice")
    assert "Cancelled 3 images." in page.locator(".messages").text_content()
    assert page.locator("[data-job-id]").count() == 0 and page.locator(".empty").is_visible()
    theirs.refresh_from_db()
    assert theirs.status == "queued", "another visitor's job is not touched"
    context.close()
    watch.fail_on_csp_violations()


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_viewers_buttons_stay_on_their_rows_on_a_phone(browser, live_server, transactional_db, language):
    work = visitor_with_work()
    context, watch = _context(browser, live_server.url, language, (390, 844))
    add_session_cookie(context, live_server.url, work["session"])
    page = context.new_page()
    page.goto(f"/batches/{work['batch']}/")
    page.locator("a[data-lightbox-item]").first.click()
    page.wait_for_selector("dialog[data-lightbox][open]")
    close = page.locator("[data-lb-close]").bounding_box()
    counter = page.locator("[data-lb-counter]").bounding_box()
    assert abs(close["y"] - counter["y"]) < close["height"], "Close sits on the counter's row, at the top"
    tops = {
        round(box["y"])
        for box in page.locator(".lb-bar .lb-btn").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect()).map(r => ({y: r.top}))"
        )
    }
    assert len(tops) == 1, "the viewer's bar is one row"
    heights = page.locator(".lb-btn").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert max(heights) < 50, "no button's label wraps"
    page.screenshot(path=str(ARTIFACTS / f"viewer-{language}-390.png"))
    context.close()
    watch.fail_on_csp_violations()


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_a_refused_form_says_what_to_fix_at_its_top_and_takes_the_visitor_there(
    browser, live_server, transactional_db, photo, shot, language
):
    load_demo()
    context, watch = _context(browser, live_server.url, language, (390, 844))
    page = context.new_page()
    page.goto("/c/couple-photo/t/couple-photo/")
    page.locator('input[type="file"][name="10.image"]').set_input_files(str(photo))
    page.locator('input[name="11.image"]').nth(2).check(force=True)
    page.locator("[data-submit]").click()  # no background picture: refused
    page.wait_for_selector("[data-error-summary]")
    assert page.evaluate("document.activeElement.matches('[data-error-summary]')"), "focus moves to the summary"
    page.screenshot(path=str(ARTIFACTS / f"form-errors-first-screen-{language}-390.png"))
    assert _inside_first_screen(page, "[data-error-summary] a"), "the visitor sees what to fix without scrolling"
    links = page.locator("[data-error-summary] a[data-error-link]")
    assert links.count() == page.locator(".field.has-error").count() == 1
    shot(page, f"form-errors-summary-{language}-390")
    links.first.click()
    assert page.evaluate("document.activeElement.name") == "12.image", "the link takes focus to the field"
    assert _inside_first_screen(page, ".field.has-error .error")
    assert page.locator('input[name="10.image__held"]').is_checked(), "the photo is kept"
    assert page.locator('input[name="11.image"]').nth(2).is_checked()
    assert page.locator('input[name="quantity"][value="1"]').is_checked(), "one image unless asked for more"
    assert_no_serious_violations(page, f"refused form ({language})")
    context.close()
    watch.fail_on_csp_violations()


TECHNICAL = ("variable", "step grid", "prompt", "KSampler", "变量", "步长", "网格", "提示词")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_visitor_pages_speak_plainly(browser, live_server, transactional_db, language):
    """No words of the machinery, no request for English in the Chinese help, an empty "describe yourself"."""
    work = visitor_with_work()
    context, watch = _context(browser, live_server.url, language, (1280, 720))
    add_session_cookie(context, live_server.url, work["session"])
    page = context.new_page()
    texts = {}
    for url in ("/", "/c/couple-photo/", "/me/", "/me/queue/", f"/batches/{work['batch']}/"):
        page.goto(url)
        texts[url] = page.locator("body").inner_text()
    for slug in ("couple-photo", "background-swap", "poster-frame", "colour-pop"):
        page.goto(f"/t/{slug}/")
        texts[slug] = page.locator("body").inner_text()
        page.locator("[data-submit]").click()  # refused: every required field says why
        page.wait_for_selector("[data-error-summary]")
        texts[f"{slug} refused"] = page.locator("body").inner_text()
    page.goto("/t/poster-frame/")
    page.locator('input[name="4.value"]').fill("0.33")  # off the opacity's 0.05 steps
    page.locator("[data-submit]").click()
    page.wait_for_selector("[data-error-summary]")
    texts["off the steps"] = message = page.locator('.field:has(input[name="4.value"]) .error').inner_text()
    assert re.search(r"0\.30.*0\.35", message), message
    for where, text in texts.items():
        found = [word for word in TECHNICAL if word.lower() in text.lower()]
        assert not found, f"{where} ({language}) says {found}"
    page.goto("/t/couple-photo/")
    box = page.locator("textarea[name='24.text']")
    assert box.input_value() == "" and box.get_attribute("placeholder")
    help_text = page.locator(".field:has(textarea[name='24.text']) .help").inner_text()
    assert "英文" not in help_text and "English" not in help_text
    assert page.locator('input[name="quantity"][value="1"]').is_checked()
    context.close()
    watch.fail_on_csp_violations()
