"""Safe image inspection shared by the agent (input URLs/base64) and the web forms (uploads).

Images from strangers are checked before anything else touches them: the byte size, the
real format (not the file name), the pixel count read from the header (decompression bombs),
and then a full decode. Nothing here changes process-wide state (no warnings filters, no
change to Pillow's global limit), so concurrent checks never disturb one another: the pixel
limit is the caller's, checked on the header's size before a single pixel is decoded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

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

DEFAULT_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

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


def _decode(image: ImageFile.ImageFile) -> None:
    """Decode every pixel of the (already size-checked) first frame; a damaged file is refused."""
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("The image expands to too many pixels.", "too_many_pixels") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageRejected("The image is truncated or damaged.", "damaged") from exc


def inspect_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] | set[str] = DEFAULT_FORMATS,
) -> ImageInfo:
    """Check that `data` is a whole, decodable image within the limits; raise ImageRejected if not."""
    with _open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels, formats=formats) as image:
        _decode(image)
        width, height = image.size
        return ImageInfo(format=image.format or "", width=width, height=height, size=len(data))


def normalize_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] | set[str] = DEFAULT_FORMATS,
) -> tuple[bytes, ImageInfo]:
    """Inspect, apply EXIF orientation and re-encode (PNG keeps alpha, else JPEG).

    Only the pixels and a matching ICC colour profile survive: EXIF (GPS, camera, dates), XMP,
    JPEG comments and PNG text chunks are all dropped.
    """
    encoded, info, _pixels = normalize_image_pixels(data, max_bytes=max_bytes, max_pixels=max_pixels, formats=formats)
    return encoded, info


def normalize_image_pixels(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] | set[str] = DEFAULT_FORMATS,
) -> tuple[bytes, ImageInfo, Image.Image]:
    """`normalize_image`, and the decoded upright pixels (RGB or RGBA): checks of the picture's content
    (moderation) look at them instead of decoding the photo again."""
    with _open_checked(data, max_bytes=max_bytes, max_pixels=max_pixels, formats=formats) as source:
        _decode(source)
        upright = ImageOps.exif_transpose(source)
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
        icc_profile = upright.info.get("icc_profile")
        pixels = upright.convert("RGBA" if has_alpha else "RGB")
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
    return encoded, ImageInfo(format=fmt, width=width, height=height, size=len(encoded)), pixels


def _icc_colour_space(profile: bytes) -> str:
    """The colour space an ICC profile describes ("RGB", "CMYK", "GRAY"…), from its header; "" if unreadable."""
    if len(profile) < 20:
        return ""
    return profile[16:20].decode("ascii", errors="replace").strip()
