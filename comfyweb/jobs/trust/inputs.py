"""Checking what a visitor sends before a job is queued: photos (decoded once, by the upload checks) and text.

A refusal names the fields (a ValidationError keyed by field name, code "moderation"), so the page
shows it beside the photo and does not keep that photo. Verdicts are remembered for the life of the
uploaded photo object (one request): the page's "keep valid photos" after a refusal does not check it twice.
"""

from __future__ import annotations

import io
import weakref

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image

from comfyweb.catalog.forms import UploadedImage
from comfyweb.jobs.trust.moderation import INPUT, Verdict, moderate_image, moderate_text

_verdicts: dict[int, dict] = {}  # id(photo) -> {(threshold, checks): verdict}, while that photo object lives


def photo_refused_message() -> str:
    return _(
        "Sorry, we can't use this photo: it seems to show content this site does not allow. "
        "Please choose another photo."
    )


def text_refused_message() -> str:
    return _("Please rephrase this: it contains words this site does not allow.")


def try_again_message() -> str:
    return _("We could not check this just now. Please try again in a moment.")


def _pixels(image: UploadedImage) -> Image.Image:
    if image.pixels is not None:
        return image.pixels
    with Image.open(io.BytesIO(image.data)) as opened:  # only for images made without the upload checks
        opened.load()
        return opened.copy()


def photo_verdict(image: UploadedImage, threshold: float) -> Verdict:
    key = (threshold, tuple(settings.MODERATION_CHECKS))
    remembered = _verdicts.get(id(image), {})
    if key in remembered:
        return remembered[key]
    verdict = moderate_image(_pixels(image), stage=INPUT, threshold=threshold)
    if not verdict.error:  # a check that failed is asked again next time
        if id(image) not in _verdicts:
            weakref.finalize(image, _verdicts.pop, id(image), None)
        _verdicts.setdefault(id(image), {})[key] = verdict
    return verdict


def refusal_for(value: object, threshold: float) -> str:
    """The visitor's message when `value` (a photo or a text) is refused, else ""."""
    if isinstance(value, UploadedImage):
        verdict, refused = photo_verdict(value, threshold), photo_refused_message
    elif isinstance(value, str):
        verdict, refused = moderate_text(value, stage=INPUT), text_refused_message
    else:
        return ""
    if not verdict.blocked:
        return ""
    return try_again_message() if verdict.error else refused()


def check_inputs(values: dict, *, threshold: float) -> None:
    """Refuse the submission (ValidationError keyed by field) when a photo or a text is blocked."""
    problems = {name: [message] for name, value in values.items() if (message := refusal_for(value, threshold))}
    if problems:
        raise ValidationError(problems, code="moderation")
