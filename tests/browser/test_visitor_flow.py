"""What a visitor does, in chromium: a refused form keeps the photos, the progress line speaks, the image
viewer, a batch that stays a batch, and "my creations" (paging, delete, make again)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, BrowserWatch
from tests.browser.visitor_data import add_session_cookie, load_demo, make_job, stored_photo, visitor_session

pytestmark = [pytest.mark.browser]

FINAL = ("succeeded", "failed", "cancelled")
# Every state the cards of a results page go through: after each change of the page, their stages and lines.
RECORD_CARDS = """
window.cardStates = [];
new MutationObserver(() => {
  const cards = Array.from(document.querySelectorAll("[data-results] [data-job-id]")).map(card => ({
    stage: card.dataset.stage, text: (card.querySelector("[data-status-text]") || {}).textContent || ""}));
  const last = window.cardStates[window.cardStates.length - 1];
  if (JSON.stringify(cards) !== JSON.stringify(last)) window.cardStates.push(cards);
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


def _context(browser, base_url: str, locale: str, width: int = 390):
    context = browser.new_context(
        base_url=base_url, locale=locale, viewport={"width": width, "height": 844}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    return context, BrowserWatch(context)


def _wait_all_final(page, seconds: float = 60, on_tick=None) -> None:
    """Until every card is final and drawn again by the server (its images and links): a card the socket made
    final is being fetched anew (`data-swapping`) until then."""
    for _ in range(int(seconds * 20)):
        statuses = page.locator("[data-job-id]").evaluate_all(
            "cards => cards.map(c => c.dataset.swapping ? 'swapping' : c.dataset.status)"
        )
        if on_tick:
            on_tick()
        if statuses and all(s in FINAL for s in statuses):
            return
        page.wait_for_timeout(50)
    pytest.fail(f"jobs did not finish: {statuses}")


@pytest.mark.slow
def test_a_refused_form_keeps_the_photos_then_the_batch_runs_and_the_viewer_pages_through_it(
    browser, live_server_url, shot, photo, background
):
    context, watch = _context(browser, live_server_url, "zh-CN")
    context.add_init_script(RECORD_CARDS)
    page = context.new_page()
    page.goto("/c/couple-photo/t/couple-photo/")
    page.locator('input[type="file"][name="10.image"]').set_input_files(str(photo))
    page.wait_for_selector('img[data-preview-for="id_10.image"]:not([hidden])')
    page.locator('input[name="11.image"]').nth(2).check(force=True)
    page.locator("textarea[name='24.text']").fill("short black hair")
    page.locator('.qty:has(input[value="2"])').click()
    page.locator("[data-submit]").click()  # no background: refused

    page.wait_for_selector(".field.has-error")
    assert page.locator(".field.has-error").count() == 1, "only the faulty field is marked"
    assert page.locator('.field.has-error input[name="12.image"]').count() == 1
    kept = page.locator('input[name="10.image__held"]')
    assert kept.is_checked()
    preview = page.locator('img[data-preview-for="id_10.image"]')
    assert "/media/inputs/" in preview.get_attribute("src")
    expect(preview).to_be_visible()  # an image has no size until it has loaded: slower on a busy machine
    page.wait_for_function(  # the kept photo is shown
        "() => { const img = document.querySelector('img[data-preview-for=\"id_10.image\"]');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    assert page.locator('input[name="11.image"]').nth(2).is_checked()
    assert page.locator("textarea[name='24.text']").input_value() == "short black hair"
    assert page.locator('input[name="quantity"][value="2"]').is_checked()
    assert page.evaluate("document.activeElement.matches('[data-error-summary]')")
    shot(page, "flow-01-kept-photo-zh-390")

    page.locator('input[type="file"][name="12.image"]').set_input_files(str(background))
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/batches/"))
    lines: set[str] = set()
    said: set[str] = set()

    def watch_words():
        lines.update(page.locator('[data-job-id][data-status="running"] [data-status-text]').all_text_contents())
        said.add(page.locator("[data-announcer]").text_content() or "")

    _wait_all_final(page, on_tick=watch_words)
    assert any(re.fullmatch(r"\s*绘制中 · \d+/17\s*", line) for line in lines), lines
    assert not any("KSampler" in line for line in lines)
    # Honest states: two slots on a GPU that paints one prompt at a time; the second waits for it, saying so.
    states = page.evaluate("window.cardStates")
    texts = [card["text"] for cards in states for card in cards]
    assert not [text for text in texts if "%" in text], "never 'working · 0 %' while waiting"
    assert any(
        {card["stage"] for card in cards} == {"painting", "waiting_for_gpu"}
        and any(card["text"].strip() == "正在等待 GPU…" for card in cards)
        for cards in states
    ), "one image painted while the other said it waits for a GPU"
    assert any(re.match(r"第 [12] 张: 完成！", text) for text in said), said
    shot(page, "flow-02-batch-done-zh-390")

    # The image viewer: keyboard, zoom, swipe, download, Escape.
    links = page.locator("a[data-lightbox-item]")
    assert links.count() == 2
    links.first.click()
    dialog = page.locator("dialog[data-lightbox]")
    counter = dialog.locator("[data-lb-counter]")
    assert dialog.is_visible() and counter.text_content() == "1 / 2"
    page.keyboard.press("ArrowRight")
    assert counter.text_content() == "2 / 2"
    page.keyboard.press("ArrowRight")
    assert counter.text_content() == "1 / 2", "the last image is followed by the first"
    page.keyboard.press("End")
    assert counter.text_content() == "2 / 2"
    page.keyboard.press("ArrowLeft")
    assert counter.text_content() == "1 / 2"
    zoom = dialog.locator("[data-lb-zoom]")
    zoom.click()
    assert zoom.get_attribute("aria-pressed") == "true"
    assert dialog.locator("[data-lb-stage]").evaluate("s => s.classList.contains('lb-zoomed')")
    zoom.click()
    stage = dialog.locator("[data-lb-stage]")
    box = stage.bounding_box()
    y = box["y"] + box["height"] / 2
    stage.dispatch_event("pointerdown", {"clientX": box["x"] + box["width"] - 20, "clientY": y, "isPrimary": True})
    stage.dispatch_event("pointerup", {"clientX": box["x"] + 20, "clientY": y, "isPrimary": True})
    assert counter.text_content() == "2 / 2", "a swipe to the left shows the next image"
    page.screenshot(path=str(ARTIFACTS / "flow-03-viewer-zh-390.png"))
    with page.expect_download() as download:
        dialog.locator("[data-lb-download]").click()
    assert re.fullmatch(r"couple-photo-\d{4}-\d{2}-\d{2}-[12]\.png", download.value.suggested_filename)
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.matches('a[data-lightbox-item]')"), "focus returns to the picture"
    context.close()
    watch.fail_on_csp_violations()


@pytest.mark.slow
def test_cancelling_and_retrying_one_job_keeps_the_batch_and_tries_it_once(browser, live_server_url, shot, background):
    context, watch = _context(browser, live_server_url, "en-US", width=1280)
    page = context.new_page()
    page.goto("/c/couple-photo/t/background-swap/")
    page.locator('input[name="10.image"]').first.check(force=True)
    page.locator('input[type="file"][name="12.image"]').set_input_files(str(background))
    page.locator('.qty:has(input[value="3"])').click()
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/batches/"))
    batch_url = page.url
    last = page.locator("[data-job-id]").nth(2)
    with page.expect_navigation(wait_until="load", timeout=60_000):
        last.locator("[data-cancel]").click()
    assert page.url == batch_url, "cancelling one job keeps the batch page"
    assert page.locator("[data-job-id]").count() == 3
    page.wait_for_selector('[data-job-id]:nth-child(3)[data-status="cancelled"]')
    with page.expect_navigation(wait_until="load", timeout=60_000):  # the retry's answer, before anything else
        page.locator("[data-job-id]").nth(2).locator("[data-retry]").dblclick()  # an impatient double click
    page.wait_for_timeout(500)  # a second request, had one been sent, would have landed by now
    page.reload()
    assert page.url == batch_url, "retrying one job keeps the batch page"
    assert page.locator("[data-job-id]").count() == 4, "the new try joins the batch, once"
    _wait_all_final(page)
    statuses = page.locator("[data-job-id]").evaluate_all("cards => cards.map(c => c.dataset.status)")
    assert sorted(statuses) == ["cancelled", "succeeded", "succeeded", "succeeded"]
    cancelled = page.locator("[data-job-id]").nth(2)
    assert cancelled.locator("[data-status-text]").text_content().strip() == "Cancelled."
    assert cancelled.locator("[data-retry]").count() == 0 and cancelled.locator("[data-retried]").is_visible()
    shot(page, "flow-04-batch-after-cancel-en-desktop")
    page.locator("[data-again]").click()
    page.wait_for_url(re.compile(r"\?again="))
    assert page.locator('input[name="quantity"][value="3"]').is_checked(), "the batch asked for 3, not 4"
    context.close()
    watch.fail_on_csp_violations()


@pytest.mark.slow
def test_the_places_of_a_batch_are_never_shown_twice(browser, live_server_url, background):
    """Four images on two slots of a GPU that paints one at a time: as the line moves, no two cards say the same
    place, one card says it is painted, and the batch says which."""
    context, watch = _context(browser, live_server_url, "en-US", width=1366)
    context.add_init_script(RECORD_CARDS)
    page = context.new_page()
    page.goto("/c/couple-photo/t/background-swap/")
    page.locator('input[name="10.image"]').first.check(force=True)
    page.locator('input[type="file"][name="12.image"]').set_input_files(str(background))
    page.locator('.qty:has(input[value="4"])').click()
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/batches/"))
    said = set()
    _wait_all_final(page, on_tick=lambda: said.add(page.locator("[data-batch-now]").text_content()))
    states = page.evaluate("window.cardStates")
    places_seen = set()
    for cards in states:
        places = [re.search(r"number (\d+)", card["text"]) for card in cards if card["stage"] == "in_line"]
        numbers = [int(match.group(1)) for match in places if match]
        assert len(numbers) == len(set(numbers)), f"two cards at one place: {cards}"
        places_seen.update(numbers)
        assert sum(card["stage"] == "painting" for card in cards) <= 2
    # Which places a card passes through depends on when the line moved; that it was seen moving does not.
    assert 1 in places_seen and len(places_seen) >= 2, places_seen
    assert any(re.match(r"Painting now: Image [1-4]", text or "") for text in said), said
    context.close()
    watch.fail_on_csp_violations()


def test_my_creations_pages_deletes_and_makes_again(browser, live_server, transactional_db, shot):
    load_demo()
    key = visitor_session()
    photo = stored_photo()
    for _ in range(13):
        make_job(key, "poster-frame")
    batch = uuid.uuid4()
    newest = [make_job(key, batch=batch, values={"10.image": {"image": photo}}) for _ in range(2)]
    context, watch = _context(browser, live_server.url, "en-US")
    add_session_cookie(context, live_server.url, key)
    page = context.new_page()
    page.goto("/me/")
    assert page.locator(".creation").count() == 12
    assert "Page 1 of 2" in page.locator(".pager").text_content()
    shot(page, "flow-05-creations-en-390")
    page.locator("[data-page-next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator(".creation").count() == 2
    page.locator(".creation").first.locator("[data-delete]").click()  # asks first, in the page
    page.locator(".creation").first.locator("[data-delete-confirm]").click()
    page.wait_for_selector(".notice")
    assert page.locator(".creation").count() == 1 and "page=2" in page.url

    page.goto("/me/")
    first = page.locator(".creation").first
    assert f"/batches/{batch}/" in first.locator("h2 a").get_attribute("href")
    assert "2 done" in first.text_content() and "Step into their world" in first.text_content()
    first.locator("[data-again]").click()
    page.wait_for_url(re.compile(rf"/c/couple-photo/t/couple-photo/\?again={newest[0].pk}"))
    assert page.locator('input[name="10.image__held"]').is_checked()
    assert page.locator('input[name="quantity"][value="2"]').is_checked()
    shot(page, "flow-06-make-again-en-390")
    assert not watch.dialogs, "no alert/confirm: the page asks in place"
    context.close()
    watch.fail_on_csp_violations()
