"""Trust features in chromium on a live `serve`: consent refused then given in both languages, an image withheld
by the moderation and released by an operator in the admin, the AI-generated label on a downloaded file (and
its metadata read back), the privacy statement. Screenshots in test-artifacts/browser/trust-*.png."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from comfyweb.jobs.trust.metadata import read_aigc
from tests.browser.a11y import assert_no_serious_violations
from tests.browser.conftest import BrowserWatch, running_site

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPERATOR = ("trust-operator", "a-long-test-password-17")
LOCALES = {"zh": "zh-CN", "en": "en-US"}
SIZES = {
    "1280": {"width": 1280, "height": 720},
    "1366": {"width": 1366, "height": 768},
    "390": {"width": 390, "height": 844},
}
FINAL = ("succeeded", "failed", "cancelled")
TEAL = (0, 128, 128)
MAGENTA = (255, 0, 255)
CONSENT = {
    "zh": "我同意仅为生成合照使用我上传的照片。",
    "en": "I agree my photos are used only to make these pictures.",
}
REFUSED = {"zh": "请勾选同意", "en": "Please tick the box to agree"}

SETUP = f"""
from comfyweb.campaigns.models import Campaign
from comfyweb.catalog.services import import_templates

def solid(colour):
    size = {{"width": 384, "height": 384, "batch_size": 1, "color": colour}}
    return {{"1": {{"class_type": "EmptyImage", "inputs": size}},
            "2": {{"class_type": "SaveImage", "inputs": {{"images": ["1", 0], "filename_prefix": "solid"}}}}}}

import_templates([
    {{"title": "Flagged", "slug": "flagged", "prompt": solid(0xFF00FF), "params": []}},
    {{"title": "Teal", "slug": "teal", "prompt": solid(0x008080), "params": []}},
], enable=True)
campaign = Campaign.objects.get(slug="couple-photo")
campaign.consent_required = True
campaign.consent_text = "{CONSENT["zh"]}"
campaign.translations.setdefault("en", {{}})["consent_text"] = "{CONSENT["en"]}"
campaign.save()
"""


@pytest.fixture(scope="module")
def trust_site(tmp_path_factory):
    """The demo site with consent asked on the couple-photo campaign, two flat-colour templates, an operator, and
    the marker check standing in for NudeNet (magenta is "explicit": tests/trust/checks.py)."""
    root = tmp_path_factory.mktemp("trust")
    operator = ["createsuperuser", "--noinput", "--username", OPERATOR[0], "--email", "ops@example.com"]
    env = {
        "EMULATOR_STEP_MS": "30",
        "DJANGO_SUPERUSER_PASSWORD": OPERATOR[1],
        "MODERATION_CHECKS": "tests.trust.checks.MarkerCheck,comfyweb.jobs.trust.words.WordListCheck",
    }
    with running_site(root, env=env, prepare=[["loaddemo"], operator, ["shell", "-c", SETUP]]) as url:
        yield url, root / "db.sqlite3"


def new_page(browser, url: str, language: str, size: str = "390"):
    context = browser.new_context(base_url=url, locale=LOCALES[language], viewport=SIZES[size], accept_downloads=True)
    context.set_default_timeout(20_000)
    watch = BrowserWatch(context)
    return context, context.new_page(), watch


def wait_final(page) -> str:
    card = page.locator("[data-job-id]").first
    for _ in range(600):
        status = card.get_attribute("data-status")
        if status in FINAL:
            return status
        page.wait_for_timeout(100)
    pytest.fail(f"the job did not finish: {status}")


def fill_couple_photo(page, photo: Path, background: Path) -> None:
    page.locator('input[type="file"][name="10.image"]').set_input_files(str(photo))
    page.locator('input[name="11.image"]').first.check(force=True)
    page.locator('input[type="file"][name="12.image"]').set_input_files(str(background))
    page.locator('.qty:has(input[value="1"])').click()


@pytest.mark.parametrize("language", list(LOCALES))
def test_consent_is_refused_without_the_tick_and_recorded_with_it(
    browser, trust_site, shot, photo, background, language
):
    url, db = trust_site
    context, page, watch = new_page(browser, url, language)
    page.goto("/c/couple-photo/t/couple-photo/")
    box = page.locator("input[data-consent-box]")
    assert not box.is_checked(), "never ticked for the visitor"
    assert CONSENT[language] in page.locator("[data-consent]").inner_text()
    fill_couple_photo(page, photo, background)
    page.locator("[data-submit]").click()
    page.wait_for_selector("#consent-error")
    assert REFUSED[language] in page.locator("#consent-error").inner_text()
    assert page.locator('input[name="10.image__held"]').count() == 0, "no photo is kept without consent"
    page.locator("[data-consent]").scroll_into_view_if_needed()
    shot(page, f"trust-consent-refused-{language}")
    assert_no_serious_violations(page, f"the refused form ({language})")

    fill_couple_photo(page, photo, background)
    page.locator("input[data-consent-box]").check()
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/jobs/"))
    job_id = page.locator("[data-job-id]").first.get_attribute("data-job-id")
    with sqlite3.connect(db) as connection:
        version, at = connection.execute(
            "SELECT consent_version, consent_at FROM jobs_job WHERE id = ?", [job_id.replace("-", "")]
        ).fetchone()
    assert version == "couple-photo/2" and at, "the text version the visitor agreed to, and when"
    context.close()
    watch.fail_on_csp_violations()


@pytest.mark.parametrize("language", list(LOCALES))
@pytest.mark.parametrize("size", list(SIZES))
def test_the_privacy_statement_and_the_consent_box_read_well(browser, trust_site, shot, language, size):
    url, _db = trust_site
    context, page, watch = new_page(browser, url, language, size)
    page.goto("/c/couple-photo/privacy/")
    assert CONSENT[language] in page.locator("[data-consent-text]").inner_text()
    assert "7" in page.locator("[data-retention]").inner_text()
    shot(page, f"trust-privacy-{language}-{size}")
    assert_no_serious_violations(page, f"the privacy statement ({language}, {size})")
    page.goto("/c/couple-photo/t/couple-photo/")
    page.locator("[data-consent]").scroll_into_view_if_needed()
    page.screenshot(path=str(Path("test-artifacts/browser") / f"trust-consent-box-{language}-{size}.png"))
    assert_no_serious_violations(page, f"the form with its consent box ({language}, {size})")
    context.close()
    watch.fail_on_csp_violations()


def corner_colours(data: bytes) -> tuple[tuple, tuple]:
    """(the top-left pixel, the darkest pixel of the bottom-right label area) of a picture."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        area = rgb.crop((width - 120, height - 40, width, height))
        return rgb.getpixel((5, 5)), min(area.get_flattened_data(), key=sum)


def download(page, tmp_path: Path) -> bytes:
    with page.expect_download() as info:
        page.locator("[data-job-id] [data-download]").first.click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    return saved.read_bytes()


def test_a_withheld_image_is_released_by_an_operator(browser, trust_site, shot, tmp_path):
    url, _db = trust_site
    context, page, watch = new_page(browser, url, "en")
    page.goto("/t/flagged/")
    page.locator('.qty:has(input[value="1"])').click()
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/jobs/"))
    assert wait_final(page) == "succeeded"
    page.wait_for_selector("[data-withheld]:not([hidden])")
    assert "A picture was withheld" in page.locator("[data-withheld]").inner_text()
    assert page.locator("img[data-output]").count() == 0 and page.locator("[data-job-id] [data-download]").count() == 0
    shot(page, "trust-withheld-en")
    job_id = page.locator("[data-job-id]").first.get_attribute("data-job-id")

    operator, admin, admin_watch = new_page(browser, url, "en", "1280")
    admin.goto("/admin/login/?next=/admin/jobs/withheldoutput/")
    admin.fill("#id_username", OPERATOR[0])
    admin.fill("#id_password", OPERATOR[1])
    admin.locator("input[type=submit]").click()
    admin.wait_for_url(re.compile(r"/admin/jobs/withheldoutput/$"))
    row = admin.locator("#result_list tbody tr").first
    assert "FEMALE_BREAST_EXPOSED" in row.inner_text()
    shot(admin, "trust-review-queue-en")
    row.locator("input.action-select").check()
    admin.select_option("select[name=action]", "release")
    admin.locator("button[name=index], input[name=index]").first.click()
    admin.wait_for_selector("text=Released 1 image.")
    assert admin.locator("#result_list").count() == 0, "the queue is empty"

    # The open page shows the released image by itself: no reload.
    page.wait_for_selector("img[data-output]")
    assert page.locator("[data-withheld]").count() == 0
    shot(page, "trust-released-en")
    data = download(page, tmp_path)
    top_left, label = corner_colours(data)
    assert top_left == MAGENTA and sum(label) < sum(MAGENTA) / 2, "the visible label sits in the bottom-right corner"
    assert read_aigc(data)["ProduceID"] == job_id
    operator.close()
    context.close()
    watch.fail_on_csp_violations()
    admin_watch.fail_on_csp_violations()


def test_a_downloaded_image_carries_its_labels(browser, trust_site, shot, tmp_path):
    url, _db = trust_site
    context, page, watch = new_page(browser, url, "zh")
    page.goto("/t/teal/")
    page.locator('.qty:has(input[value="1"])').click()
    page.locator("[data-submit]").click()
    page.wait_for_url(re.compile(r"/jobs/"))
    assert wait_final(page) == "succeeded"
    page.wait_for_selector("img[data-output]")
    shot(page, "trust-labelled-zh")
    data = download(page, tmp_path)
    top_left, label = corner_colours(data)
    assert top_left == TEAL and sum(label) < sum(TEAL), "the dark plate of the label"
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and "XML:com.adobe.xmp" in image.info
    aigc = read_aigc(data)
    assert aigc["Label"] == "1" and aigc["ContentProducer"] == "comfyweb"
    assert aigc["ProduceID"] == page.locator("[data-job-id]").first.get_attribute("data-job-id")
    context.close()
    watch.fail_on_csp_violations()
