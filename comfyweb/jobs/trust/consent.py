"""Consent for photos of people: asked by a campaign or a template, given with a tick, recorded with each job.

The campaign (or the site, for a template that asks for consent outside a campaign) hands down the
`ConsentTerms` in force: the version of the text the visitor was shown. A submission that carries a
photo the visitor sent is refused without consent (code "consent_required"); gallery picks need none.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from comfyweb.catalog.forms import UploadedImage

SITE_CONSENT_VERSION = "site/1"  # the site's default text (translated with the site, in django.po)


@dataclass(frozen=True)
class ConsentTerms:
    """The consent text in force, by version (e.g. "couple-photo/3": the campaign's slug and text version)."""

    version: str = SITE_CONSENT_VERSION


def carries_photos(values: dict) -> bool:
    """Whether the submission holds a photo the visitor sent (not a picture of the template's gallery)."""
    return any(isinstance(value, UploadedImage) for value in values.values())


def consent_message() -> str:
    return _("Please tick the box to agree to how your photos are used. Without it we cannot use (or keep) them.")


def check_consent(terms: ConsentTerms | None, values: dict, consented: bool) -> str:
    """The version to record with the jobs ("" when no consent was asked for); refused when it is missing."""
    if terms is None or not carries_photos(values):
        return ""
    if not consented:
        raise ValidationError(consent_message(), code="consent_required")
    return terms.version
