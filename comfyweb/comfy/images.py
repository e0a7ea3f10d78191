"""Safe image inspection shared by the agent (input URLs/base64) and the web forms (uploads).

Images from strangers are checked before anything else touches them, cheapest first: the byte size,
the real format (not the file name), the pixel count read from the header (decompression bombs), and
only then a decode. Nothing here changes process-wide state (no warnings filters, no change to Pillow's
global limit), so concurrent checks never disturb one another: the pixel limit is the caller's, checked
on the header's size before a single pixel is decoded.

Decoding is what costs: a 40-megapixel PNG takes ~160 MB while it decodes. So a decode asks for no
more pixels than will be kept (`max_side`: a JPEG decodes at 1/2 to 1/8 of its size, `draft`; other
formats are shrunk right after decoding, `thumbnail`'s `reduce`, before anything copies them), and the
web takes at most a few decodes at once per process (`DecodeSlots`): the others wait briefly, then
are told to come back (`DecodersBusy`, a 503 with Retry-After).
"""

from __future__ import annotations

import contextlib
import functools
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from PIL import (
    GifImagePlugin,
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from comfyweb.core.busy import ServerBusy

DEFAULT_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_SIDE = 2048  # pixels on the long side a photo is kept at (the browser sends them so already)
CHECK_SIDE = 1024  # an integrity check decodes a JPEG at most this small (every byte is still decoded)
DRAFT_SLACK = 0.9  # a JPEG may decode this much under the long side asked for (see _draft_scale)

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
# Accepted formats are parsed by their own decoder only (never by whichever plugin claims the bytes), which
# reads the header without Pillow's process-wide bomb guard: the caller's pixel limit decides, before decoding.
DECODERS: dict[str, type[ImageFile.ImageFile]] = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "GIF": GifImagePlugin.GifImageFile,
}
# The colour space an ICC profile must describe to stay valid on the re-encoded pixels.
ICC_SPACE_FOR_MODE = {"RGB": "RGB", "RGBA": "RGB"}


class ImageRejected(ValueError):
    """The bytes are not an acceptable image; `code` names the reason for callers and translations."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    size: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.format, "bin")


class DecodersBusy(ServerBusy):
    """Every decode slot of this process stayed taken for the whole wait."""


class DecodeSlots:
    """At most `size` image decodes at once in this process; the others wait up to `wait` seconds for a slot.

    Threads, not tasks: the web decodes in its views' threads. `decoded` and `refused` count what happened,
    `most_in_use` the most slots ever taken at once.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._semaphore = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self.in_use = 0
        self.most_in_use = 0
        self.decoded = 0
        self.refused = 0

    @contextlib.contextmanager
    def slot(self, wait: float) -> Iterator[None]:
        if not self._semaphore.acquire(timeout=max(0.0, wait)):
            with self._lock:
                self.refused += 1
            raise DecodersBusy("Too many images are being checked at once; try again shortly.", retry_after=wait or 1)
        with self._lock:
            self.decoded += 1
            self.in_use += 1
            self.most_in_use = max(self.most_in_use, self.in_use)
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= 1
            self._semaphore.release()


@functools.cache
def decode_slots(size: int) -> DecodeSlots:
    """The process's decode slots for a configured size (one semaphore per size, so a setting may change)."""
    return DecodeSlots(size)


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ImageRejected:
    return ImageRejected(f"The image has {width}×{height} pixels; the limit is {max_pixels} pixels.", "too_many_pixels")


def _open_accepted(data: bytes, formats: frozenset[str] | set[str]) -> ImageFile.ImageFile | None:
    """The image opened (header read, nothing decoded) by the decoder of an accepted format, or None."""
    for fmt in sorted(formats):
        decoder = DECODERS.get(fmt)
        try:
            if decoder is not None:
                return decoder(io.BytesIO(data))
            return Image.open(io.BytesIO(data), formats=[fmt])  # a format without a pinned decoder
        except (UnidentifiedImageError, SyntaxError, OSError, ValueError, EOFError):
            continue
    return None


def _format_name(data: bytes) -> str:
    """What another format the bytes look like, from their first bytes only (for the refusal's wording)."""
    Image.init()
    prefix = data[:16]
    for fmt, (_factory, accept) in Image.OPEN.items():
        if accept is not None and accept(prefix):
            return fmt
    return ""


def _open_checked(
    data: bytes, *, max_bytes: int, max_pixels: int, formats: frozenset[str] | set[str]
) -> ImageFile.ImageFile:
    """Open `data` and check bytes, format and the header's pixel count; nothing is decoded yet.

    The caller closes the returned image. A decoder may still refuse a header that is absurd even by
    Pillow's standards (a DecompressionBombError): that is "too many pixels" too.
    """
    if not data:
        raise ImageRejected("The file is empty.", "empty")
    if len(data) > max_bytes:
        raise ImageRejected(f"The image is {len(data)} bytes; the limit is {max_bytes}.", "too_large")
    try:
        image = _open_accepted(data, formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("The image expands to too many pixels.", "too_many_pixels") from exc
    if image is None:
        fmt = _format_name(data)
        if fmt in formats:  # an accepted format whose header its decoder cannot read
            raise ImageRejected("The image is truncated or damaged.", "damaged")
        if fmt:
            allowed = ", ".join(sorted(formats))
            raise ImageRejected(f"Image format {fmt} is not accepted; use {allowed}.", "format")
        raise ImageRejected("The file is not an image (or it is damaged).", "not_image")
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        image.close()
        raise _too_many_pixels(width, height, max_pixels)
    return image


def _draft_scale(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size to ask a JPEG's `draft` for: the smallest of its 1/2..1/8 scales whose long side is still
    at least DRAFT_SLACK of `max_side`.

    A 4000×3000 phone photo kept at 2048 would otherwise decode whole and then be resampled (≈ 5× the CPU
    of a 1/2-scale decode); at 1/2 it comes out at 2000, a few per cent under the bound and never over it.
    """
    width, height = size
    scale = 1
    while scale < 8 and max(width, height) / (scale * 2) >= max_side * DRAFT_SLACK:
        scale *= 2
    # Pillow picks the largest scale s with width // asked_width >= s (likewise for the height).
    return max(1, width // scale), max(1, height // scale)


def _decode(image: ImageFile.ImageFile, max_side: int | None = None) -> None:
    """Decode the (already size-checked) first frame, no larger than `max_side` where the format allows
    (JPEG); a damaged file is refused. Other formats decode whole: shrink them with `_shrink` at once."""
    if max_side:
        image.draft(None, _draft_scale(image.size, max_side))  # JPEG: 1/2..1/8 scale; no-op for other formats
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("The image expands to too many pixels.", "too_many_pixels") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageRejected("The image is truncated or damaged.", "damaged") from exc


def _shrink(image: Image.Image, max_side: int | None) -> None:
    """Make a decoded image fit `max_side` in place (integer `reduce` first, then a resample)."""
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)


def _decode_slot(slots: DecodeSlots | None, wait: float) -> contextlib.AbstractContextManager:
    return slots.slot(wait) if slots is not None else contextlib.nullcontext()


def inspect_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] | set[str] = DEFAULT_FORMATS,
    slots: DecodeSlots | None = None,
    wait: float = 0.0,
) -> ImageInfo:
    """Check that `data` is a whole, decodable image within the limits; raise ImageRejected if not.

    The size reported is the header's. A JPEG is decoded at a reduced scale (every byte is still read).
    With `slots`, the decode waits up to `wait` seconds for one (DecodersBusy if none frees up).
    """
    with _open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels, formats=formats) as image:
        width, height = image.size
        with _decode_slot(slots, wait):
            _decode(image, CHECK_SIDE)
        return ImageInfo(format=image.format or "", width=width, height=height, size=len(data))


class NormalizedImage(NamedTuple):
    """A photo as it is kept: re-encoded bytes, what they are, and the upright pixels they were made from
    (RGB or RGBA), which checks of the picture's content (moderation) look at instead of decoding it again."""

    data: bytes
    info: ImageInfo
    pixels: Image.Image


def normalize_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] | set[str] = DEFAULT_FORMATS,
    max_side: int | None = DEFAULT_MAX_SIDE,
    slots: DecodeSlots | None = None,
    wait: float = 0.0,
) -> NormalizedImage:
    """Inspect, shrink to `max_side` on the long side, apply EXIF orientation and re-encode (PNG keeps
    alpha, else JPEG).

    Only the pixels and a matching ICC colour profile survive: EXIF (GPS, camera, dates), XMP,
    JPEG comments and PNG text chunks are all dropped. With `slots`, the decode and everything after it
    wait up to `wait` seconds for a slot (DecodersBusy if none frees up); the checks before take none.
    """
    with (
        _open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels, formats=formats) as source,
        _decode_slot(slots, wait),
    ):
        _decode(source, max_side)
        _shrink(source, max_side)
        upright = ImageOps.exif_transpose(source)
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
        icc_profile = upright.info.get("icc_profile")
        mode = "RGBA" if has_alpha else "RGB"
        pixels = upright if upright.mode == mode else upright.convert(mode)  # already a copy of its own
        del upright
    pixels.info = {}  # Pillow's encoders copy some metadata (comments, ICC) from here unless told otherwise
    extra = {}
    if icc_profile and _icc_colour_space(icc_profile) == ICC_SPACE_FOR_MODE[pixels.mode]:
        extra["icc_profile"] = icc_profile
    out = io.BytesIO()
    if has_alpha:
        pixels.save(out, format="PNG", optimize=False, **extra)
        fmt = "PNG"
    else:
        pixels.save(out, format="JPEG", quality=92, **extra)
        fmt = "JPEG"
    width, height = pixels.size
    encoded = out.getvalue()
    return NormalizedImage(encoded, ImageInfo(format=fmt, width=width, height=height, size=len(encoded)), pixels)


def _icc_colour_space(profile: bytes) -> str:
    """The colour space an ICC profile describes ("RGB", "CMYK", "GRAY"…), from its header; "" if unreadable."""
    if len(profile) < 20:
        return ""
    return profile[16:20].decode("ascii", errors="replace").strip()
