"""Image checks: pixels decided from the header with the caller's limit, no global state; metadata dropped."""

from __future__ import annotations

import io
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from comfyweb.comfy.images import DecodersBusy, DecodeSlots, ImageRejected, inspect_image, normalize_image

SECRET = "SECRET-METADATA"
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>{SECRET} xmp</rdf:RDF></x:xmpmeta>'


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = f"{SECRET} camera maker"  # Make
    exif[0x0131] = f"{SECRET} software"  # Software
    exif[0x0112] = orientation
    return exif


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _bomb(side: int = 12000) -> bytes:
    return _encode(Image.new("L", (side, side)), "PNG")


def test_too_many_pixels_is_decided_from_the_header_without_any_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageRejected) as refused:
            inspect_image(_bomb(), max_pixels=40_000_000)
    assert refused.value.code == "too_many_pixels"
    assert "12000×12000" in str(refused.value)
    assert not caught, [str(w.message) for w in caught]


def test_the_callers_limit_is_the_limit():
    small = _encode(Image.new("RGB", (100, 100)), "PNG")
    assert inspect_image(small, max_pixels=10_000).width == 100
    with pytest.raises(ImageRejected) as refused:
        inspect_image(small, max_pixels=9_999)
    assert refused.value.code == "too_many_pixels"


def test_a_warnings_filter_set_elsewhere_changes_nothing():
    """Whatever filters the process has (here: every warning an error), the answers stay the same."""
    photo = _encode(Image.new("RGB", (64, 48)), "JPEG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert inspect_image(photo).format == "JPEG"
        with pytest.raises(ImageRejected) as refused:
            inspect_image(_bomb())
        assert refused.value.code == "too_many_pixels"


def test_parallel_checks_do_not_disturb_one_another():
    bomb, photo = _bomb(), _encode(Image.new("RGB", (640, 480), (10, 200, 30)), "JPEG")
    filters_before = list(warnings.filters)
    start = threading.Barrier(12)

    def check(index: int) -> str:
        start.wait(timeout=30)
        try:
            return normalize_image(bomb if index % 2 else photo)[1].format
        except ImageRejected as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(check, range(12)))
    assert answers == ["JPEG", "too_many_pixels"] * 6
    assert list(warnings.filters) == filters_before


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"hello, not a picture at all", "not_image"),
        (_encode(Image.new("RGB", (8, 8)), "GIF"), "format"),
        (_encode(Image.new("RGB", (8, 8)), "BMP"), "format"),
        (_encode(Image.new("RGB", (64, 64), (200, 0, 0)), "PNG")[:-40], "damaged"),
        (_encode(Image.new("RGB", (256, 256), (200, 0, 0)), "JPEG", quality=95)[:200], "damaged"),
    ],
    ids=["empty", "text", "gif", "bmp", "truncated-png", "truncated-jpeg"],
)
def test_refusals_name_their_reason(data, code):
    with pytest.raises(ImageRejected) as refused:
        normalize_image(data)
    assert refused.value.code == code


def test_too_many_bytes():
    with pytest.raises(ImageRejected) as refused:
        inspect_image(_encode(Image.new("RGB", (64, 64)), "PNG"), max_bytes=10)
    assert refused.value.code == "too_large"


def _assert_only_pixels_and_colour_profile(encoded: bytes, expected_format: str) -> Image.Image:
    assert SECRET.encode() not in encoded, "metadata text survived"
    assert b"Exif" not in encoded and b"xmpmeta" not in encoded
    image = Image.open(io.BytesIO(encoded))
    assert image.format == expected_format
    assert image.info.get("icc_profile") == SRGB, "the ICC colour profile is kept"
    assert set(image.info) <= {"icc_profile", "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
    assert not image.getexif()
    if expected_format == "JPEG":
        assert b"\xff\xfe" not in encoded[: encoded.index(b"\xff\xda")], "no JPEG comment segment"
    if expected_format == "PNG":
        assert not any(chunk in encoded for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf"))
    return image


def test_jpeg_loses_exif_xmp_and_comment_keeps_icc_and_turns_upright():
    source = _encode(
        Image.new("RGB", (40, 30), (200, 10, 10)),
        "JPEG",
        exif=_exif(orientation=6),
        comment=f"{SECRET} comment".encode(),
        icc_profile=SRGB,
        xmp=XMP.encode(),
    )
    assert SECRET.encode() in source
    encoded, info, _pixels = normalize_image(source)
    image = _assert_only_pixels_and_colour_profile(encoded, "JPEG")
    assert image.size == (30, 40) == (info.width, info.height), "the EXIF orientation is applied, then dropped"


def test_png_loses_text_chunks_exif_and_xmp_keeps_icc_and_alpha():
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", f"{SECRET} comment")
    text.add_text("parameters", f"{SECRET} a prompt")
    text.add_itxt("XML:com.adobe.xmp", XMP)
    text.add_text("Software", SECRET, zip=True)
    source = _encode(
        Image.new("RGBA", (40, 30), (200, 10, 10, 120)), "PNG", pnginfo=text, icc_profile=SRGB, exif=_exif()
    )
    assert SECRET.encode() in source or b"zTXt" in source
    encoded, info, _pixels = normalize_image(source)
    image = _assert_only_pixels_and_colour_profile(encoded, "PNG")
    assert image.mode == "RGBA" and info.format == "PNG"


def test_webp_loses_exif_and_xmp_keeps_icc():
    source = _encode(
        Image.new("RGB", (40, 30), (200, 10, 10)), "WEBP", exif=_exif(), icc_profile=SRGB, xmp=XMP.encode()
    )
    assert SECRET.encode() in source
    encoded, _info, _pixels = normalize_image(source)
    _assert_only_pixels_and_colour_profile(encoded, "JPEG")


def test_a_profile_that_does_not_fit_the_new_pixels_is_dropped():
    """A CMYK photo becomes RGB: its CMYK profile would describe the wrong colours, so it goes."""
    cmyk_profile = bytearray(SRGB)
    cmyk_profile[16:20] = b"CMYK"
    source = _encode(Image.new("CMYK", (20, 20), (0, 50, 100, 0)), "JPEG", icc_profile=bytes(cmyk_profile))
    encoded, _info, _pixels = normalize_image(source)
    image = Image.open(io.BytesIO(encoded))
    assert image.mode == "RGB"
    assert "icc_profile" not in image.info


# --- What a decode costs: no more pixels than are kept, and a bounded number of decodes at once.


def test_a_large_jpeg_is_kept_at_the_long_side_asked_for():
    source = _encode(Image.new("RGB", (6000, 4000), (200, 90, 40)), "JPEG", exif=_exif(orientation=6))
    encoded, info, _pixels = normalize_image(source, max_side=1500)
    assert (info.width, info.height) == (1000, 1500), "shrunk to fit, then turned upright"
    with Image.open(io.BytesIO(encoded)) as kept:
        assert kept.size == (1000, 1500) and kept.getpixel((500, 750))[0] > 150


def test_a_phone_photo_decodes_at_half_scale_rather_than_whole_and_resampled():
    source = _encode(Image.new("RGB", (4000, 3000), (30, 120, 200)), "JPEG")
    _encoded, info, pixels = normalize_image(source, max_side=2048)
    assert (info.width, info.height) == (2000, 1500), "1/2 scale: a little under the bound, never over it"
    assert pixels.size == (2000, 1500)
    _encoded, info, _pixels = normalize_image(source, max_side=1800)
    assert (info.width, info.height) == (1800, 1350), "over the bound at 1/2 scale: shrunk to it"


@pytest.mark.parametrize("orientation", [1, 6])
def test_the_decoded_photo_is_copied_at_most_once_on_its_way(monkeypatch, orientation):
    """Each full-size copy of a phone photo is ~9 MB and a few ms: upright and in the kept mode, it is the one."""
    source = _encode(Image.new("RGB", (4000, 3000), (30, 120, 200)), "JPEG", exif=_exif(orientation=orientation))
    copies: list[tuple[int, int]] = []
    copy = Image.Image.copy
    monkeypatch.setattr(Image.Image, "copy", lambda self: copies.append(self.size) or copy(self))
    _encoded, info, pixels = normalize_image(source, max_side=2048)
    assert pixels.mode == "RGB" and pixels.size == (info.width, info.height)
    assert len(copies) == (1 if orientation == 1 else 0), "turning it upright made the one copy needed"


def test_a_large_png_is_shrunk_and_keeps_its_alpha():
    source = _encode(Image.new("RGBA", (3000, 1000), (10, 20, 30, 128)), "PNG")
    encoded, info, _pixels = normalize_image(source, max_side=600)
    assert (info.format, info.width, info.height) == ("PNG", 600, 200)
    with Image.open(io.BytesIO(encoded)) as kept:
        assert kept.mode == "RGBA" and kept.getpixel((300, 100))[3] == 128


def test_a_photo_within_the_side_keeps_its_size():
    _encoded, info, _pixels = normalize_image(_encode(Image.new("RGB", (800, 600)), "JPEG"), max_side=2048)
    assert (info.width, info.height) == (800, 600)


def test_an_integrity_check_reports_the_headers_size_and_still_reads_every_byte():
    whole = _encode(Image.effect_noise((3000, 2000), 60).convert("RGB"), "JPEG", quality=90)
    assert (inspect_image(whole).width, inspect_image(whole).height) == (3000, 2000)
    with pytest.raises(ImageRejected) as refused:
        inspect_image(whole[: len(whole) * 2 // 3])
    assert refused.value.code == "damaged"


@pytest.fixture
def held_slots():
    """Decode slots of size 1 whose one slot a thread holds until the test lets it go."""
    slots = DecodeSlots(1)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with slots.slot(wait=5):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(5)
    yield slots, release
    release.set()
    holder.join(10)


def test_a_decode_waits_for_a_slot_then_is_told_to_come_back(held_slots):
    slots, _release = held_slots
    photo = _encode(Image.new("RGB", (64, 48)), "JPEG")
    with pytest.raises(DecodersBusy) as busy:
        normalize_image(photo, slots=slots, wait=0.2)
    assert busy.value.retry_after >= 1 and slots.refused == 1


def test_cheap_checks_refuse_without_waiting_for_a_slot(held_slots):
    """A bomb, an oversized file and a non-image are refused from their bytes and header, all slots taken."""
    slots, _release = held_slots
    for data, code in [(_bomb(), "too_many_pixels"), (b"x" * 2000, "too_large"), (b"not an image", "not_image")]:
        with pytest.raises(ImageRejected) as refused:
            normalize_image(data, max_bytes=1000 if code == "too_large" else 10**8, slots=slots, wait=30)
        assert refused.value.code == code
    assert slots.refused == 0 and slots.decoded == 1, "only the holder's decode"


def test_a_decode_gets_the_slot_once_it_is_free(held_slots):
    slots, release = held_slots
    threading.Timer(0.2, release.set).start()
    _encoded, info, _pixels = normalize_image(_encode(Image.new("RGB", (64, 48)), "JPEG"), slots=slots, wait=10)
    assert info.width == 64 and slots.decoded == 2


def test_at_most_the_slots_decode_at_once():
    slots = DecodeSlots(2)
    photo = _encode(Image.effect_noise((1500, 1500), 50).convert("RGB"), "PNG")
    with ThreadPoolExecutor(max_workers=6) as pool:
        infos = list(pool.map(lambda _: normalize_image(photo, slots=slots, wait=60)[1], range(6)))
    assert [info.width for info in infos] == [1500] * 6
    assert slots.most_in_use <= 2 and slots.decoded == 6 and slots.in_use == 0
