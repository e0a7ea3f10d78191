"""Taking results away, in chromium: a share link opened in a fresh browser, its QR code read back from the
screen, the shared page and the QR view at three sizes in both languages, and a photo turned and cropped on
the form before upload (by keyboard), arriving on the server at the size the editor said.

The pages need finished jobs, not a runner: pytest-django's live server and jobs made in its database.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile

import pytest
import zxingcpp
from django.core.files.storage import default_storage
from PIL import Image
from playwright.sync_api import expect

from comfyweb.jobs.models import Job
from tests.browser.a11y import assert_no_serious_violations
from tests.browser.conftest import ARTIFACTS, BrowserWatch
from tests.browser.visitor_data import add_session_cookie, load_demo, make_job, visitor_session

pytestmark = pytest.mark.browser

LANGUAGES = {"en": "en-US", "zh": "zh-CN"}
SIZES = [(1280, 720), (1366, 768), (390, 844)]


def _context(browser, base_url: str, language: str = "en", size: tuple[int, int] = (1280, 720), **options):
    width, height = size
    context = browser.new_context(
        base_url=base_url, locale=LANGUAGES[language], viewport={"width": width, "height": height}, **options
    )
    context.set_default_timeout(15_000)
    return context, BrowserWatch(context)


def _decode_qr(page, selector: str) -> list[str]:
    """What a phone's camera would read: the QR code decoded (ZXing) from a screenshot of the element."""
    shot = Image.open(io.BytesIO(page.locator(selector).screenshot()))
    return [result.text for result in zxingcpp.read_barcodes(shot)]


def _image_drawn(page, selector: str) -> bool:
    return page.locator(selector).first.evaluate("img => img.complete && img.naturalWidth > 0")


def _inside_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    view = page.viewport_size
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= view["width"]
        and (box["y"] + box["height"] <= view["height"])
    )


def _make_link(page, start: str) -> str:
    """From a batch's page: Share all → keep the offered validity → Make the link; the link's URL."""
    page.goto(start)
    page.locator("[data-share-batch]").click()
    page.wait_for_selector("[data-share-create]")
    assert page.locator('input[name="days"][value="7"]').is_checked(), "7 days offered first"
    page.locator("[data-share-create]").click()
    page.wait_for_url(re.compile(r"/me/shares/\d+/$"))
    return page.locator("[data-share-url]").input_value()


def test_a_shared_result_opens_in_a_fresh_browser_and_its_qr_code_reads_as_the_link(
    browser, live_server, transactional_db
):
    load_demo()
    key = visitor_session()
    job = make_job(key, "poster-frame")
    context, watch = _context(browser, live_server.url, accept_downloads=True)
    add_session_cookie(context, live_server.url, key)
    page = context.new_page()
    page.goto(f"/jobs/{job.pk}/")
    page.locator("[data-share]").click()
    page.wait_for_selector("[data-share-create]")
    assert_no_serious_violations(page, "share form")
    page.locator("[data-share-create]").click()
    page.wait_for_url(re.compile(r"/me/shares/\d+/$"))
    url = page.locator("[data-share-url]").input_value()
    assert re.fullmatch(re.escape(live_server.url) + r"/s/[A-Za-z0-9_-]{24}/", url)
    assert _image_drawn(page, "img[data-qr]")
    assert _decode_qr(page, "img[data-qr]") == [url], "the small QR code on the link's page"
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator("[data-copy-for]").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied")  # the clipboard answers asynchronously
    assert page.evaluate("navigator.clipboard.readText()") == url
    assert_no_serious_violations(page, "share link page")
    page.locator("[data-show-qr]").click()
    page.wait_for_selector("img.qr-big")
    assert _inside_viewport(page, "img.qr-big"), "the whole code is on the screen"
    assert page.locator("img.qr-big").bounding_box()["width"] >= 500, "large enough to scan from a step away"
    assert _decode_qr(page, "img.qr-big") == [url]
    assert_no_serious_violations(page, "QR view")
    context.close()
    watch.fail_on_csp_violations()

    fresh, fresh_watch = _context(browser, live_server.url, accept_downloads=True)
    stranger = fresh.new_page()
    stranger.goto(url)
    stranger.wait_for_selector("img[data-shared-image]")
    assert _image_drawn(stranger, "img[data-shared-image]"), "the picture is visible to whoever has the link"
    assert stranger.locator('meta[name="robots"]').get_attribute("content") == "noindex, nofollow, noarchive"
    with stranger.expect_download() as download:
        stranger.locator("[data-shared-download]").click()
    assert re.fullmatch(r"poster-frame-\d{4}-\d\d-\d\d-1\.png", download.value.suggested_filename)
    assert_no_serious_violations(stranger, "shared page")
    stranger.locator("#lang-select").select_option("zh-hans")  # the page's own form works for a link holder
    stranger.locator(".lang button").click()
    stranger.wait_for_function("document.documentElement.lang === 'zh-hans'")
    assert "有人与您分享了 1 张图片" in stranger.locator(".lead").text_content()
    assert not [c for c in fresh.cookies() if c["name"] == "sessionid"], "no session for a link holder"
    fresh.close()
    fresh_watch.fail_on_csp_violations()


def test_a_batch_downloads_as_one_zip_from_its_page(browser, live_server, transactional_db, tmp_path):
    load_demo()
    key = visitor_session()
    batch = uuid.uuid4()
    for _ in range(3):
        make_job(key, batch=batch)
    context, watch = _context(browser, live_server.url, accept_downloads=True)
    add_session_cookie(context, live_server.url, key)
    page = context.new_page()
    page.goto(f"/batches/{batch}/")
    assert page.locator("[data-takeaway]").is_visible()
    page.screenshot(path=str(ARTIFACTS / "batch-takeaway-en-1280x720.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("[data-takeaway] [data-download-all]").click()
    assert re.fullmatch(r"couple-photo-\d{4}-\d\d-\d\d\.zip", download.value.suggested_filename)
    saved = tmp_path / "all.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert len(archive.namelist()) == 3 and archive.testzip() is None
    context.close()
    watch.fail_on_csp_violations()


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_shared_page_and_the_qr_view_at_every_size(browser, live_server, transactional_db, language):
    load_demo()
    key = visitor_session()
    batch = uuid.uuid4()
    for _ in range(2):
        make_job(key, batch=batch)
    owner, watch = _context(browser, live_server.url, language)
    add_session_cookie(owner, live_server.url, key)
    page = owner.new_page()
    url = _make_link(page, f"/batches/{batch}/")
    link_page = page.url
    qr_view = link_page + "qr/"
    stranger, stranger_watch = _context(browser, live_server.url, language)
    shared = stranger.new_page()
    for width, height in SIZES:
        where = f"{language} {width}x{height}"
        for view in (page, shared):
            view.set_viewport_size({"width": width, "height": height})
        page.goto(link_page)
        page.screenshot(path=str(ARTIFACTS / f"share-link-{language}-{width}x{height}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), f"link page {where}: nothing wider"
        page.goto(qr_view)
        page.wait_for_selector("img.qr-big")
        assert _inside_viewport(page, "img.qr-big"), f"QR view {where}"
        assert page.locator("img.qr-big").bounding_box()["width"] >= min(width, height) * 0.6, f"QR view {where}"
        assert _decode_qr(page, "img.qr-big") == [url], f"QR view {where}"
        page.screenshot(path=str(ARTIFACTS / f"share-qr-{language}-{width}x{height}.png"))
        assert_no_serious_violations(page, f"QR view ({where})")
        shared.goto(url)
        shared.wait_for_selector("img[data-shared-image]")
        assert shared.locator("img[data-shared-image]").count() == 2
        assert shared.evaluate("document.documentElement.scrollWidth <= innerWidth"), f"shared page {where}"
        shared.screenshot(path=str(ARTIFACTS / f"shared-page-{language}-{width}x{height}.png"), full_page=True)
        assert_no_serious_violations(shared, f"shared page ({where})")
    # Stopped: the link's holders get a page that says so.
    page.goto(link_page)
    page.locator("[data-share-stop]").click()
    page.wait_for_selector(".notice")
    shared.goto(url)
    assert shared.locator("[data-share-gone]").get_attribute("data-share-gone") == "missing"
    shared.screenshot(path=str(ARTIFACTS / f"share-gone-{language}-390x844.png"))
    assert_no_serious_violations(shared, f"stopped link ({language})")
    for context, context_watch in ((owner, watch), (stranger, stranger_watch)):
        context.close()
        context_watch.fail_on_csp_violations()


def _stored_photo_size(job: Job) -> tuple[int, int]:
    name = job.values["1.image"]["image"]
    with default_storage.open(name, "rb") as handle:
        return Image.open(handle).size


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_a_photo_turned_and_cropped_by_keyboard_arrives_at_that_size(
    browser, live_server, transactional_db, photo, language
):
    """640×800 photo → turn right (800×640) → the template's shape, 4:5 (512×640) → moved right → sent."""
    load_demo()
    context, watch = _context(browser, live_server.url, language, (390, 844))
    page = context.new_page()
    page.goto("/t/poster-frame/")
    page.locator('input[type="file"]').first.set_input_files(str(photo))
    opener = page.locator("[data-pe-open]")
    opener.wait_for(state="visible")
    assert page.locator("img.preview").is_visible(), "the photo is shown as chosen until the visitor edits it"
    opener.focus()
    page.keyboard.press("Enter")
    editor = page.locator("[data-photo-edit]")
    editor.wait_for(state="visible")
    assert opener.get_attribute("aria-expanded") == "true" and not page.locator("img.preview").is_visible()
    assert page.evaluate("document.activeElement.matches('[data-pe-stage]')"), "focus goes to the photo"
    result = editor.locator("[data-pe-result]")
    assert re.search(r"640 × 800", result.text_content())
    page.locator('[data-pe-rotate="1"]').focus()
    page.keyboard.press("Enter")
    assert re.search(r"800 × 640", result.text_content())
    page.keyboard.press("Tab")  # turn right → the shape buttons
    assert page.evaluate("document.activeElement.dataset.peShape") == "whole"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.peShape") == "template"
    assert "4:5" in page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Space")
    assert page.locator('[data-pe-shape="template"]').get_attribute("aria-pressed") == "true"
    assert re.search(r"512 × 640", result.text_content())
    editor.locator("[data-pe-stage]").focus()
    page.keyboard.press("Shift+ArrowRight")  # the frame moves; its size stays
    assert re.search(r"512 × 640", result.text_content())
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), "nothing wider than a phone"
    page.screenshot(path=str(ARTIFACTS / f"photo-edit-{language}-390x844.png"), full_page=True)
    assert_no_serious_violations(page, f"photo editor ({language})")
    page.wait_for_function("() => document.querySelector('input[type=file]').dataset.edited === '512x640'")
    page.locator("[data-pe-done]").click()
    assert page.evaluate("document.activeElement.matches('[data-pe-open]')"), "focus back on the opener"
    page.wait_for_function("() => document.querySelector('img.preview').naturalWidth === 512")
    assert page.locator("img.preview").is_visible(), "the preview shows the photo as it will be sent"
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/(jobs|batches)/"))
    job = Job.objects.order_by("-created_at").first()
    assert _stored_photo_size(job) == (512, 640), "the server stored the turned and cropped photo"
    context.close()
    watch.fail_on_csp_violations()


def test_a_free_crop_set_with_the_sliders_keys_arrives_at_that_size(browser, live_server, transactional_db, photo):
    load_demo()
    context, watch = _context(browser, live_server.url, "en", (1280, 720))
    page = context.new_page()
    page.goto("/t/poster-frame/")
    page.locator('input[type="file"]').first.set_input_files(str(photo))
    page.locator("[data-pe-open]").click()
    page.locator("[data-photo-edit]").wait_for(state="visible")
    page.locator('[data-pe-shape="free"]').click()
    page.locator("[data-pe-width]").focus()
    page.keyboard.press("Home")  # 10 % of 640
    page.locator("[data-pe-height]").focus()
    for _ in range(50):
        page.keyboard.press("ArrowLeft")  # 50 % of 800
    assert "64 × 400" in page.locator("[data-pe-result]").text_content()
    page.screenshot(path=str(ARTIFACTS / "photo-edit-free-en-1280x720.png"), full_page=True)
    page.locator("[data-submit]").click()  # sent at once: the submit waits for the crop to be drawn
    page.wait_for_url(re.compile(r"/(jobs|batches)/"))
    assert _stored_photo_size(Job.objects.order_by("-created_at").first()) == (64, 400)
    context.close()
    watch.fail_on_csp_violations()
