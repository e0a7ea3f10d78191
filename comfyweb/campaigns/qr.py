"""The QR code of a share link, drawn on the server by segno as an SVG image.

Pages show it as an image of this site (`<img src=…qr.svg>`): nothing inline, so the Content-Security-Policy
stays as it is, and an SVG loaded as an image runs no script whatever it held. The code carries only the
link itself.
"""

from __future__ import annotations

import io

import segno

QUIET_ZONE = 4  # modules of white around the code, as the standard asks: scanners need it


def qr_code(url: str) -> segno.QRCode:
    """The QR code of `url`, with error correction M (a screen's glare or a smudge still scans); never a
    Micro QR code, which phones do not read."""
    return segno.make_qr(url, error="m", boost_error=True)


def qr_svg(url: str) -> bytes:
    """An SVG of the code with a white background and no fixed size: the page scales it to the screen."""
    out = io.BytesIO()
    qr_code(url).save(
        out, kind="svg", scale=1, border=QUIET_ZONE, dark="#000", light="#fff", omitsize=True, xmldecl=True
    )
    return out.getvalue()
