"""Outputs carry AI-generated labels: a visible one drawn with Pillow (text with CJK glyphs, or the operator's
badge, at the campaign's corner and size), implicit ones in the file's metadata (GB 45438-2025 fields), and
C2PA content credentials signed with the operator's certificate when configured."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from comfyweb.jobs.models import Job, JobOutput
from comfyweb.jobs.trust.labels import draw_label, label_font
from comfyweb.jobs.trust.metadata import TRAINED_ALGORITHMIC_MEDIA, read_aigc
from comfyweb.jobs.trust.outputs import prepare_one
from comfyweb.jobs.trust.policy import LabelSpec, site_policy, with_overrides
from tests.trust.certs import make_chain

BACKGROUND = (30, 120, 200)


def encoded(fmt: str, size=(400, 300), colour=BACKGROUND) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def changed_box(before: Image.Image, after: Image.Image) -> tuple[int, int, int, int] | None:
    from PIL import ImageChops

    return ImageChops.difference(before.convert("RGB"), after.convert("RGB")).getbbox()


def test_the_text_label_sits_in_the_chosen_corner_at_the_chosen_size():
    image = Image.new("RGB", (400, 300), BACKGROUND)
    box = changed_box(image, draw_label(image, LabelSpec(text="AI生成", size_percent=10)))
    assert box is not None
    left, top, right, bottom = box
    assert right > 370 and bottom > 270 and left > 200 and top > 220, box  # bottom right, nothing elsewhere
    assert 25 <= bottom - top <= 31, "10 % of the shorter side (300 px)"
    box = changed_box(image, draw_label(image, LabelSpec(text="AI生成", position="top-left", size_percent=5)))
    assert box[0] < 20 and box[1] < 20 and box[3] < 40


def test_the_label_font_has_chinese_glyphs():
    if not Path(settings.LABEL_FONT).is_file():
        pytest.skip("fonts-wqy-microhei is not installed (make browser)")
    font = label_font(settings.LABEL_FONT, 40)
    glyphs = [bytes(font.getmask(char)) for char in "生成图像"]
    assert len(set(glyphs)) == 4, "each character has its own glyph (a font without CJK draws the same box)"


def test_the_operators_badge_is_drawn_instead_of_the_text(db):
    badge = io.BytesIO()
    Image.new("RGBA", (40, 20), (255, 0, 0, 255)).save(badge, format="PNG")
    name = default_storage.save("badges/red.png", ContentFile(badge.getvalue()))
    image = Image.new("RGB", (400, 300), BACKGROUND)
    labelled = draw_label(image, LabelSpec(text="AI生成", badge=name, size_percent=10))
    left, top, right, bottom = changed_box(image, labelled)
    assert bottom - top == 30 and right - left == 60, "the badge keeps its proportions"
    assert labelled.getpixel((right - 5, bottom - 5)) == (255, 0, 0)


def test_no_label_when_the_campaign_turns_it_off():
    image = Image.new("RGB", (400, 300), BACKGROUND)
    assert changed_box(image, draw_label(image, LabelSpec(visible=False))) is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_each_output_is_labelled_in_its_own_format_with_the_implicit_label(db, fmt, settings):
    settings.MODERATION_CHECKS = []
    job = Job.objects.create(prompt={}, session_key="s")
    _ref, data, reviewed = prepare_one(job, {"filename": f"out.{fmt.lower()}"}, encoded(fmt), site_policy())
    assert reviewed.review == JobOutput.Review.PASSED
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == fmt and image.size == (400, 300)
        assert image.convert("RGB").getpixel((399 - 10, 299 - 8)) != BACKGROUND, "the visible label"
        xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    aigc = read_aigc(data)
    assert aigc["Label"] == "1" and aigc["ProduceID"] == str(job.pk) and aigc["ContentProducer"] == "comfyweb"
    assert set(aigc) == {"Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator",
                         "PropagateID", "ReservedCode2"}  # fmt: skip
    text = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert TRAINED_ALGORITHMIC_MEDIA in text and "http://www.tc260.org.cn/ns/AIGC/1.0/" in text


def test_other_formats_become_png_and_animations_stay_as_they_are(db, settings):
    settings.MODERATION_CHECKS = []
    job = Job.objects.create(prompt={}, session_key="s")
    ref, data, _ = prepare_one(job, {"filename": "out.bmp"}, encoded("BMP"), site_policy())
    assert ref["filename"] == "out.png" and data[:4] == b"\x89PNG" and read_aigc(data)["ProduceID"] == str(job.pk)
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert prepare_one(job, {"filename": "a.gif"}, gif.getvalue(), site_policy())[1] == gif.getvalue()


def test_a_campaigns_label_settings_reach_the_output(db, settings):
    from comfyweb.campaigns.models import Campaign
    from comfyweb.jobs.trust.policy import policy_for

    settings.MODERATION_CHECKS = []
    Campaign.objects.create(slug="quiet", title="Quiet", label_visible=False, label_text="AIGC")
    policy = policy_for("quiet")
    assert policy.label.visible is False and policy.label.text == "AIGC"
    assert with_overrides(site_policy(), label={"text": ""}).label.text == settings.LABEL_TEXT
    job = Job.objects.create(prompt={}, session_key="s", campaign="quiet")
    _, data, _ = prepare_one(job, {"filename": "o.png"}, encoded("PNG"), policy)
    with Image.open(io.BytesIO(data)) as image:
        assert image.convert("RGB").getpixel((389, 291)) == BACKGROUND, "no visible label"
    assert read_aigc(data)["Label"] == "1", "the implicit label is always there"


def test_c2pa_credentials_are_signed_with_the_operators_certificate(db, settings, tmp_path):
    import c2pa

    settings.MODERATION_CHECKS = []
    settings.C2PA_CERT_FILE, settings.C2PA_KEY_FILE = (str(path) for path in make_chain(tmp_path))
    job = Job.objects.create(prompt={}, session_key="s")
    _, data, _ = prepare_one(job, {"filename": "o.png"}, encoded("PNG"), site_policy())
    with c2pa.Reader("image/png", io.BytesIO(data)) as reader:
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    assert manifest["signature_info"]["common_name"] == "comfyweb test signer"
    [actions] = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    assert actions["data"]["actions"][0] == {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
    codes = {status["code"] for status in store.get("validation_status", [])}
    assert codes <= {"signingCredential.untrusted"}, "valid, only signed by a CA nobody trusts"
    assert read_aigc(data)["ProduceID"] == str(job.pk), "the implicit label survives the signing"


def test_a_failed_signature_keeps_the_labelled_image(db, settings, tmp_path):
    settings.MODERATION_CHECKS = []
    (tmp_path / "bad.pem").write_text("not a certificate")
    settings.C2PA_CERT_FILE = settings.C2PA_KEY_FILE = str(tmp_path / "bad.pem")
    job = Job.objects.create(prompt={}, session_key="s")
    _, data, _ = prepare_one(job, {"filename": "o.png"}, encoded("PNG"), site_policy())
    assert read_aigc(data)["Label"] == "1"


def test_an_output_that_cannot_be_labelled_is_kept_for_review_not_run_again(db, settings):
    from comfyweb.jobs.trust.outputs import prepare_outputs

    settings.MODERATION_CHECKS = []
    settings.LABEL_SERVICE_NAME = None  # a broken setting: the implicit label cannot be written
    job = Job.objects.create(prompt={}, session_key="s")
    images = [({"filename": "o.png"}, encoded("PNG"))]
    original = images[0][1]
    [reviewed] = prepare_outputs(job, images)
    assert reviewed.review == JobOutput.Review.WITHHELD and reviewed.detail["error"]
    assert images[0][1] == original
