"""System checks of the trust settings: a label font that can draw Chinese, usable C2PA files, loadable checks."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.utils.module_loading import import_string


@register()
def check_trust_settings(app_configs=None, **kwargs) -> list:
    problems = []
    if settings.LABEL_VISIBLE and not Path(settings.LABEL_FONT or "").is_file():
        message = f"LABEL_FONT {settings.LABEL_FONT!r} is not a file: the visible AI label has no Chinese glyphs."
        hint = "Install Debian's fonts-wqy-microhei (make browser; deploy/web.Dockerfile) or set LABEL_FONT."
        problems.append(Warning(message, hint=hint, id="comfyweb.W201"))
    cert, key = settings.C2PA_CERT_FILE, settings.C2PA_KEY_FILE
    if bool(cert) != bool(key):
        problems.append(Error("Set both C2PA_CERT_FILE and C2PA_KEY_FILE, or neither.", id="comfyweb.E202"))
    for name, path in (("C2PA_CERT_FILE", cert), ("C2PA_KEY_FILE", key)):
        if path and not Path(path).is_file():
            problems.append(Error(f"{name} {path!r} is not a readable file.", id="comfyweb.E203"))
    for path in settings.MODERATION_CHECKS:
        try:
            import_string(path)
        except ImportError as exc:
            message = f"MODERATION_CHECKS names {path!r}, which cannot be imported: {exc}"
            problems.append(Error(message, id="comfyweb.E204"))
    return problems
