"""What the template admin says about where a template stands: in its change form, list and versions."""

from __future__ import annotations

from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext

from comfyweb.catalog.models import TemplateVersion, WorkflowTemplate
from comfyweb.catalog.translations import TranslationGap


def when(moment) -> str:
    return date_format(localtime(moment), "DATETIME_FORMAT") if moment else "—"


def status_text(template: WorkflowTemplate, draft: TemplateVersion | None) -> str:
    """Where a template stands: what visitors see, and whether a draft (`draft`) waits."""
    if template.published_at is None:
        return gettext("Draft, not published yet: visitors do not see this template.")
    if not template.enabled:
        if draft is not None:
            return gettext(
                "Switched off: visitors do not see this template. You are editing a draft saved %(saved)s; "
                "“Publish” shows it to them."
            ) % {"saved": when(draft.updated_at)}
        return gettext(
            "Switched off: visitors do not see this template. “Publish” shows them version %(n)d (published %(when)s)."
        ) % {"n": template.version, "when": when(template.published_at)}
    if draft is not None:
        return gettext(
            "Visitors see version %(n)d (published %(when)s). You are editing a draft saved %(saved)s: "
            "publish it to show it to them."
        ) % {"n": template.version, "when": when(template.published_at), "saved": when(draft.updated_at)}
    return gettext(
        "Visitors see version %(n)d (published %(when)s). Changes you save become a draft until you publish."
    ) % {"n": template.version, "when": when(template.published_at)}


def saved_message(template: WorkflowTemplate, draft: TemplateVersion | None, *, published: bool) -> str:
    """What the operator reads after pressing "Save draft" or "Publish"."""
    if published:
        message = gettext("Published: visitors now see version %(n)d of “%(title)s”.")
    elif template.published_at is None:
        message = gettext("Draft of “%(title)s” saved. Visitors do not see it until you publish it.")
    elif draft is not None:
        message = gettext("Draft of “%(title)s” saved. Visitors still see version %(n)d until you publish.")
    else:
        message = gettext("Saved. “%(title)s” is as published (version %(n)d): there is no draft.")
    return message % {"n": template.version, "title": template.title}


def gap_message(gap: TranslationGap) -> str:
    """A missing or mistyped translation, said after a save (the preview lists every text)."""
    if gap.missing:
        return gettext(
            "%(n)d text(s) have no %(language)s translation: %(language)s visitors read them in the default "
            "language (%(texts)s). Add them under “Translations”."
        ) % {"n": len(gap.missing), "language": gap.language, "texts": ", ".join(gap.missing[:5])}
    return gettext(
        "Some default texts do not look like %(language)s, yet %(language)s visitors read them as typed: %(texts)s."
    ) % {"language": gap.language, "texts": ", ".join(gap.foreign[:5])}
