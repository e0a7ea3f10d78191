"""Two operators editing one template: a save based on what the other has changed since is refused.

The change form carries a revision token: what the editor showed when it was drawn (the content being
edited, the settings, the published version), signed and compressed. A save whose token no longer matches
the template is refused with what changed in between (`changes_between`), the operator's own changes kept
in the form; the form then carries the current revision, so saving again deliberately keeps theirs.
"""

from __future__ import annotations

import json

from django.core import signing
from django.utils.translation import gettext as _

from comfyweb.catalog import drafts
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import field_name

SALT = "comfyweb.catalog.revision"
SETTINGS = ("slug", "notes", "enabled", "live_previews", "ordering")
SHORT = 60


def editing_state(template_pk: int) -> dict | None:
    """What the editor of a template shows now, read from the database (None: the template is gone)."""
    template = WorkflowTemplate.objects.filter(pk=template_pk).first()
    if template is None:
        return None
    state = drafts.editing_content(template)
    state.update({name: getattr(template, name) for name in SETTINGS})
    state["version"] = template.version if template.published_at is not None else None
    return json.loads(json.dumps(state))  # as it reads back from a token (tuples as lists…)


def revision_token(state: dict | None) -> str:
    return signing.dumps(state, salt=SALT, compress=True) if state is not None else ""


def read_revision(token: str) -> dict | None:
    """The state a token was made from; None when it does not read (then nothing is compared)."""
    try:
        state = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    return state if isinstance(state, dict) else None


def _quoted(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(str(text).split())
    return f"“{text[: SHORT - 1]}…”" if len(text) > SHORT else f"“{text}”"


def _labels() -> dict[str, str]:
    return {
        "title": _("the title"),
        "description": _("the description"),
        "cover": _("the cover image"),
        "slug": _("the slug"),
        "notes": _("the operator notes"),
        "enabled": _("whether visitors see it (enabled)"),
        "live_previews": _("the live previews"),
        "ordering": _("the ordering"),
    }


def _fields(params: object) -> dict[str, dict]:
    found: dict[str, dict] = {}

    def walk(panels: object) -> None:
        for panel in panels if isinstance(panels, list) else []:
            if isinstance(panel, dict) and panel.get("type") == "group":
                walk(panel.get("children"))
            elif isinstance(panel, dict):
                found[field_name(panel)] = panel

    walk(params)
    return found


def _steps(params: object) -> list[str]:
    titles: list[str] = []

    def walk(panels: object) -> None:
        for panel in panels if isinstance(panels, list) else []:
            if isinstance(panel, dict) and panel.get("type") == "group":
                titles.append(str(panel.get("title") or ""))
                walk(panel.get("children"))

    walk(params)
    return titles


def _named(panel: dict, name: str) -> str:
    title = str(panel.get("title") or "").strip()
    return f"“{title}” ({name})" if title else name


def params_changes(before: object, after: object) -> list[str]:
    """The visitor fields added, removed or changed, and the steps, in words."""
    old, new = _fields(before), _fields(after)
    found = [_("added the field %(field)s") % {"field": _named(new[name], name)} for name in new if name not in old]
    found += [_("removed the field %(field)s") % {"field": _named(old[name], name)} for name in old if name not in new]
    for name in (name for name in new if name in old and new[name] != old[name]):
        if old[name].get("title") != new[name].get("title"):
            found.append(
                _("renamed the field %(field)s to %(title)s")
                % {"field": _named(old[name], name), "title": _quoted(new[name].get("title") or "")}
            )
        else:
            found.append(_("changed the field %(field)s") % {"field": _named(new[name], name)})
    if not found and before != after:
        if _steps(before) != _steps(after):
            found.append(
                _("changed the steps: %(steps)s")
                % {"steps": ", ".join(_quoted(title) for title in _steps(after)) or "—"}
            )
        else:
            found.append(_("moved fields"))
    return found


def changes_between(before: dict, after: dict | None) -> list[str]:
    """What another operator changed between two editing states, one line each."""
    if after is None:
        return [_("deleted the template")]
    found = []
    if before.get("version") != after.get("version") and after.get("version") is not None:
        found.append(_("published it as version %(n)s") % {"n": after["version"]})
    for name, label in _labels().items():
        if before.get(name) != after.get(name):
            value = after.get(name)
            if isinstance(value, str) and len(value) <= SHORT and "\n" not in value:
                found.append(_("changed %(what)s to %(value)s") % {"what": label, "value": _quoted(value)})
            else:
                found.append(_("changed %(what)s") % {"what": label})
    found += params_changes(before.get("params"), after.get("params"))
    if before.get("prompt") != after.get("prompt"):
        found.append(_("changed the workflow (ComfyUI prompt)"))
    if before.get("translations") != after.get("translations"):
        found.append(_("changed the translations"))
    return found
