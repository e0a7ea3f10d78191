"""The list of what to fix at the top of a refused form, each entry linked to its field.

A refused form comes back at its top: without a summary the visitor sees no error (on a phone the
first one may sit a screen or two further down). The page's script moves focus to the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext as _

from comfyweb.catalog.forms import UPLOAD_SUFFIX

CONSENT_ANCHOR = "id_consent"


@dataclass(frozen=True)
class Problem:
    """One thing to fix: its message, and the field it belongs to (label and element id), when it has one."""

    message: str
    label: str = ""
    anchor: str = ""


def field_anchor(bound: forms.BoundField) -> str:
    """The id of the element to jump to: the field's input, a choice group's first option."""
    if isinstance(bound.field.widget, forms.RadioSelect):
        return f"{bound.auto_id}_0"
    return bound.id_for_label or bound.auto_id


def error_summary(form: forms.Form | None, errors: list[str], *, consent_error: str = "") -> list[Problem]:
    """The page's own refusals (quantity, quota, rate), the form's, each field's in the form's order, then
    a missing consent (its box sits below the fields, in `campaigns/_consent.html`)."""
    problems = [Problem(str(message)) for message in errors]
    consent = [Problem(consent_error, str(_("Consent")), CONSENT_ANCHOR)] if consent_error else []
    if form is None or not form.is_bound:
        return problems + consent
    problems += [Problem(str(message)) for message in form.non_field_errors()]
    labels = {bound.name: str(bound.label) for bound in form.visible_fields()}
    for bound in form.visible_fields():
        # A gallery's "…or upload your own picture" is named after its gallery in the summary.
        label = labels.get(bound.name.removesuffix(UPLOAD_SUFFIX), str(bound.label))
        problems += [Problem(str(message), label, field_anchor(bound)) for message in bound.errors]
    return problems + consent
