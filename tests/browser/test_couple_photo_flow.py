"""The couple-photo campaign end to end in a real browser, with the emulator as the GPU."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _file_inputs(page):
    return page.locator('form[data-job-form] input[type="file"]')


def _gallery_choices(page):
    """The character gallery: radio thumbnails other than the quantity picker."""
    return page.locator('form[data-job-form] input[type="radio"]:not([name="quantity"])')


def test_couple_photo_from_campaign_to_downloaded_image(page, shot, photo, background, tmp_path):
    page.goto("/c/couple-photo/")
    shot(page, "01-campaign")
    page.locator(".cards a").first.click()
    page.wait_for_selector("form[data-job-form]")
    shot(page, "02-template-form")

    # The shipped couple-photo template: the visitor's photo is node 10, the background node 12.
    photo_input = page.locator('input[type="file"][name="10.image"]')
    face = page.locator(f'[data-file-pick-for="{photo_input.get_attribute("id")}"]')
    # The file box speaks the page's language, not the browser's ("Choose File" in an English chromium).
    assert face.inner_text().split() == ["选择照片", "尚未选择照片"]
    photo_input.set_input_files(str(photo))
    page.wait_for_selector("img.preview:not([hidden])")
    assert face.locator("[data-file-name]").inner_text() == photo.name
    _gallery_choices(page).first.check(force=True)
    page.locator('input[type="file"][name="12.image"]').set_input_files(str(background))
    page.locator('.qty:has(input[value="1"])').click()
    shot(page, "03-filled-form")
    page.locator("[data-submit]").click()

    page.wait_for_url(re.compile(r"/(jobs|batches)/"))
    card = page.locator("[data-job-id]").first
    seen: set[str] = set()
    bar = card.locator(".bar")
    for _ in range(600):
        status = card.get_attribute("data-status")
        if status in ("succeeded", "failed", "cancelled"):
            break
        value = bar.get_attribute("aria-valuenow")
        if value and value not in seen:
            seen.add(value)
            if len(seen) == 2:
                shot(page, "04-progress")
        page.wait_for_timeout(50)
    assert card.get_attribute("data-status") == "succeeded"
    assert len(seen) >= 3, f"progress took too few values: {sorted(seen)}"
    page.wait_for_selector("img[data-output]")
    shot(page, "05-result")

    with page.expect_download() as download_info:
        card.locator("[data-download]").first.click()
    saved = tmp_path / "result"
    download_info.value.save_as(saved)
    assert saved.read_bytes()[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"RIFF")


def test_text_file_renamed_jpg_gets_a_field_error(page, shot, tmp_path):
    fake = tmp_path / "not-a-photo.jpg"
    fake.write_text("this is not an image")
    page.goto("/c/couple-photo/")
    page.locator(".cards a").first.click()
    _file_inputs(page).first.set_input_files(str(fake))
    _gallery_choices(page).first.check(force=True)
    page.locator("[data-submit]").click()
    page.wait_for_selector(".field.has-error .error")
    assert page.locator(".field.has-error").first.locator('input[type="file"]').count() == 1
    shot(page, "07-bad-upload")
