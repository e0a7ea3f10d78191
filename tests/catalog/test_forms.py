"""The end-user form built from `params`: one field per visible panel, every value checked server-side."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from comfyweb.catalog.forms import UPLOAD_SUFFIX, UploadedImage, build_template_form
from tests.catalog.conftest import draft, picture


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type)


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims width×height pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def core_form(core_prompt, core_params, data=None, files=None, **kwargs):
    return build_template_form(draft(core_prompt, core_params), data=data, files=files, **kwargs)


def valid_data(**extra) -> dict:
    return {"4.blend_mode": "screen", "4.blend_factor": "0.3", "2.width": "128", "5.filename_prefix": "me", **extra}


# --- rendering of each panel type -------------------------------------------------------------


def test_fields_follow_the_panels_and_hidden_panels_are_not_rendered(core_prompt, core_params):
    form = core_form(core_prompt, core_params)
    assert list(form.fields) == ["1.image", "4.blend_mode", "4.blend_factor", "2.width", "5.filename_prefix"]
    assert "3.color" not in form.as_div()


def test_an_image_panel_is_a_file_upload_for_pictures(core_prompt, core_params):
    html = str(core_form(core_prompt, core_params)["1.image"])
    assert 'type="file"' in html and 'accept="image/jpeg,image/png,image/webp"' in html
    assert "required" in html


def test_an_image_with_a_usable_default_is_optional(core_prompt, core_params):
    core_prompt["1"]["inputs"]["image"] = "example.png"
    form = core_form(core_prompt, core_params, data=valid_data(), files={})
    assert not form.fields["1.image"].required
    assert form.is_valid(), form.errors
    assert "1.image" not in form.cleaned_data or form.cleaned_data["1.image"] is None


def test_a_select_is_a_dropdown_of_its_options_with_the_prompt_value_selected(core_prompt, core_params):
    html = str(core_form(core_prompt, core_params)["4.blend_mode"])
    assert html.startswith("<select")
    assert '<option value="multiply" selected>multiply</option>' in html
    assert '<option value="screen">screen</option>' in html


def test_a_number_with_bounds_is_a_number_input_that_gets_a_slider(core_prompt, core_params):
    html = str(core_form(core_prompt, core_params)["4.blend_factor"])
    assert 'type="number"' in html and "data-slider" in html
    assert 'min="0"' in html and 'max="1"' in html and 'step="0.1"' in html and 'value="0.5"' in html


def test_a_number_without_bounds_is_a_number_input(core_prompt):
    form = core_form(core_prompt, [{"type": "number", "id": "3", "key": "width"}])
    html = str(form["3.width"])
    assert 'type="number"' in html and 'step="1"' in html and 'value="256"' in html


def test_a_string_is_a_text_input_and_long_text_a_textarea(couple_template, core_prompt, core_params):
    assert 'type="text"' in str(core_form(core_prompt, core_params)["5.filename_prefix"])
    form = build_template_form(draft(couple_template["prompt"], couple_template["params"]))
    html = str(form["24.text"])
    assert html.startswith("<textarea") and 'maxlength="2000"' in html
    assert "illustration of a body with black hair" in html


def test_an_image_gallery_is_radio_thumbnails_with_an_upload_alternative(couple_template):
    couple_template["prompt"]["11"]["inputs"]["image"] = couple_template["params"][1]["options"][2]
    form = build_template_form(draft(couple_template["prompt"], couple_template["params"]))
    gallery = form.fields["11.image"]
    assert gallery.gallery is True
    labels = [label for _value, label in gallery.choices]
    assert labels == ["百里东君", "司空长风", "玥瑶", "叶鼎之", "易文君", "南宫春水", "萧若风"]
    html = str(form["11.image"])
    assert html.count('type="radio"') == 7 and 'class="gallery"' in html
    assert 'value="https://serverless-tool-images.oss-cn-hangzhou.aliyuncs.com/aigc/json/couple/玥瑶.png"' in html
    assert "checked" in html.split("玥瑶.png")[1].split("<label")[0]
    assert 'type="file"' in str(form["11.image" + UPLOAD_SUFFIX])


def test_labels_and_help_text_come_from_the_panel(couple_template):
    form = build_template_form(draft(couple_template["prompt"], couple_template["params"]))
    assert form.fields["10.image"].label == "参考图"
    assert form.fields["10.image"].help_text.startswith("请上传您的照片")


# --- server-side validation -------------------------------------------------------------------


def test_valid_values_are_typed_like_the_prompt(core_prompt, core_params):
    form = core_form(core_prompt, core_params, data=valid_data(), files={"1.image": upload(picture())})
    assert form.is_valid(), form.errors
    values = form.cleaned_data
    assert values["4.blend_mode"] == "screen"
    assert values["4.blend_factor"] == pytest.approx(0.3)
    assert values["2.width"] == 128 and isinstance(values["2.width"], int)
    assert values["5.filename_prefix"] == "me"
    assert isinstance(values["1.image"], UploadedImage) and values["1.image"].info.format == "JPEG"


def test_a_select_value_outside_the_options_is_refused(core_prompt, core_params):
    form = core_form(
        core_prompt, core_params, data=valid_data(**{"4.blend_mode": "burn"}), files={"1.image": upload(picture())}
    )
    assert not form.is_valid()
    assert "Select a valid choice" in form.errors["4.blend_mode"][0]


def test_numeric_select_options_stay_numbers(core_prompt, core_params):
    core_params[-1]["hidden"] = False
    form = core_form(
        core_prompt, core_params, data=valid_data(**{"3.color": "16777215"}), files={"1.image": upload(picture())}
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["3.color"] == 16777215


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1.5", "less than or equal to 1"),
        ("-0.1", "greater than or equal to 0"),
        ("0.25", "Choose 0.2 or 0.3: this value goes up in steps of 0.1."),
        ("abc", "Enter a number"),
        ("nan", "Enter a number"),
    ],
)
def test_numbers_must_be_in_range_and_on_the_step_grid(core_prompt, core_params, raw, message):
    form = core_form(
        core_prompt, core_params, data=valid_data(**{"4.blend_factor": raw}), files={"1.image": upload(picture())}
    )
    assert not form.is_valid()
    assert message in " ".join(form.errors["4.blend_factor"])


def test_a_whole_number_input_refuses_fractions(core_prompt):
    form = core_form(core_prompt, [{"type": "number", "id": "3", "key": "width"}], data={"3.width": "10.5"})
    assert not form.is_valid()
    assert form.errors["3.width"] == ["Enter a whole number."]


def test_text_has_a_length_limit(core_prompt, core_params):
    form = core_form(
        core_prompt,
        core_params,
        data=valid_data(**{"5.filename_prefix": "x" * 2001}),
        files={"1.image": upload(picture())},
    )
    assert not form.is_valid()
    assert "at most 2000 characters" in form.errors["5.filename_prefix"][0]


def test_values_a_client_does_not_send_keep_the_prompt_defaults(core_prompt, core_params):
    form = core_form(core_prompt, core_params, data={"4.blend_mode": "screen"}, files={"1.image": upload(picture())})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["4.blend_factor"] is None and form.cleaned_data["5.filename_prefix"] is None


def test_a_required_photo_missing_is_an_error_next_to_it(core_prompt, core_params):
    form = core_form(core_prompt, core_params, data=valid_data(), files={})
    assert not form.is_valid()
    assert list(form.errors) == ["1.image"]


# --- bad uploads ------------------------------------------------------------------------------


def test_a_text_file_renamed_jpg_is_refused(core_prompt, core_params):
    form = core_form(core_prompt, core_params, data=valid_data(), files={"1.image": upload(b"not an image at all")})
    assert not form.is_valid()
    assert form.errors["1.image"] == ["This file is not an image we can read. Please upload a JPEG, PNG or WebP photo."]


def test_an_oversized_upload_is_refused(core_prompt, core_params, settings):
    settings.UPLOAD_MAX_BYTES = 2 * 1024 * 1024
    big = picture("PNG", size=(1200, 1200))
    big += b"\0" * (settings.UPLOAD_MAX_BYTES + 1 - len(big))
    form = core_form(
        core_prompt, core_params, data=valid_data(), files={"1.image": upload(big, "big.png", "image/png")}
    )
    assert not form.is_valid()
    assert form.errors["1.image"] == ["The image is too large (at most 2 MB)."]


@pytest.mark.parametrize("side", [30000, 8000], ids=["beyond-pillow-limit", "beyond-our-limit"])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(core_prompt, core_params, side):
    bomb = png_bomb(side, side)
    assert len(bomb) < 100_000
    form = core_form(
        core_prompt, core_params, data=valid_data(), files={"1.image": upload(bomb, "bomb.png", "image/png")}
    )
    assert not form.is_valid()
    assert form.errors["1.image"] == ["The image has too many pixels. Please upload a smaller photo."]


def test_a_gif_is_not_an_accepted_format(core_prompt, core_params):
    form = core_form(core_prompt, core_params, data=valid_data(), files={"1.image": upload(picture("GIF"), "a.gif")})
    assert not form.is_valid()
    assert "format is not accepted" in form.errors["1.image"][0]


def test_a_truncated_photo_is_refused(core_prompt, core_params):
    data = picture("JPEG", size=(300, 300))[:-400]
    form = core_form(core_prompt, core_params, data=valid_data(), files={"1.image": upload(data)})
    assert not form.is_valid()
    assert "damaged" in form.errors["1.image"][0]


def test_uploads_are_turned_upright_and_stripped_of_metadata(core_prompt, core_params):
    image = Image.new("RGB", (40, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x010F] = "SecretCam"
    raw = io.BytesIO()
    image.save(raw, format="JPEG", exif=exif)
    form = core_form(core_prompt, core_params, data=valid_data(), files={"1.image": upload(raw.getvalue())})
    assert form.is_valid(), form.errors
    cleaned = form.cleaned_data["1.image"]
    assert (cleaned.info.width, cleaned.info.height) == (20, 40)
    with Image.open(io.BytesIO(cleaned.data)) as result:
        assert result.size == (20, 40)
        assert not result.getexif()
    assert b"SecretCam" not in cleaned.data


def test_a_transparent_png_keeps_its_alpha(core_prompt, core_params):
    data = picture("PNG", mode="RGBA", color=(1, 2, 3, 0))
    form = core_form(core_prompt, core_params, data=valid_data(), files={"1.image": upload(data, "a.png", "image/png")})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["1.image"].info.format == "PNG"


# --- gallery choice ---------------------------------------------------------------------------


@pytest.fixture
def gallery_prompt(core_prompt) -> tuple[dict, list]:
    params = [
        {
            "type": "image",
            "id": "1",
            "key": "image",
            "options": ["/static/characters/玥瑶.png", "/static/characters/萧若风.png"],
        }
    ]
    return core_prompt, params


def test_a_gallery_choice_is_the_value(gallery_prompt):
    form = build_template_form(draft(*gallery_prompt), data={"1.image": "/static/characters/萧若风.png"}, files={})
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"1.image": "/static/characters/萧若风.png"}


def test_an_upload_wins_over_the_gallery_choice(gallery_prompt):
    files = {"1.image" + UPLOAD_SUFFIX: upload(picture())}
    form = build_template_form(draft(*gallery_prompt), data={"1.image": "/static/characters/萧若风.png"}, files=files)
    assert form.is_valid(), form.errors
    assert isinstance(form.cleaned_data["1.image"], UploadedImage)
    assert "1.image" + UPLOAD_SUFFIX not in form.cleaned_data


def test_neither_choice_nor_upload_asks_for_one(gallery_prompt):
    form = build_template_form(draft(*gallery_prompt), data={}, files={})
    assert not form.is_valid()
    assert form.errors["1.image"] == ["Choose one of the pictures or upload your own."]


def test_a_choice_outside_the_gallery_is_refused(gallery_prompt):
    form = build_template_form(draft(*gallery_prompt), data={"1.image": "https://evil.example/x.png"}, files={})
    assert not form.is_valid()
    assert "Select a valid choice" in form.errors["1.image"][0]


def test_a_bad_upload_next_to_a_gallery_is_an_error_not_ignored(gallery_prompt):
    files = {"1.image" + UPLOAD_SUFFIX: upload(b"text")}
    form = build_template_form(draft(*gallery_prompt), data={"1.image": "/static/characters/萧若风.png"}, files=files)
    assert not form.is_valid()
    assert "not an image" in form.errors["1.image" + UPLOAD_SUFFIX][0]


# --- options from a source --------------------------------------------------------------------


@pytest.fixture
def checkpoint_template(couple_template):
    couple_template["params"].append(
        {"type": "select", "id": "4", "key": "ckpt_name", "title": "Model", "options": "CheckpointLoaderSimple"}
    )
    return draft(couple_template["prompt"], couple_template["params"])


def test_a_source_fills_the_select_from_the_backend(checkpoint_template):
    form = build_template_form(checkpoint_template, options_resolver=lambda panel: ["a.safetensors", "b.safetensors"])
    choices = [value for value, _label in form.fields["4.ckpt_name"].choices]
    assert choices == ["majicMIX realistic_v7.safetensors", "a.safetensors", "b.safetensors"]


def test_an_unreachable_source_falls_back_to_the_default_and_says_so(checkpoint_template):
    def down(panel):
        raise OSError("connection refused")

    form = build_template_form(checkpoint_template, options_resolver=down)
    field = form.fields["4.ckpt_name"]
    assert [value for value, _label in field.choices] == ["majicMIX realistic_v7.safetensors"]
    assert "could not be loaded from the GPU backend" in str(field.help_text)


def test_select_labels_are_shown_while_the_value_stays_the_option(core_prompt):
    panel = {"type": "select", "id": "3", "key": "color", "options": [255, 16777215], "labels": ["Blue", "White"]}
    form = core_form(core_prompt, [panel])
    assert '<option value="16777215">White</option>' in str(form["3.color"])
    form = core_form(core_prompt, [panel], data={"3.color": "16777215"})
    assert form.is_valid() and form.cleaned_data["3.color"] == 16777215
