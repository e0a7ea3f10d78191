"""From anything ComfyUI saves to template entries (the `workflows/*.json` list format), before they are saved.

`catalog.services.import_templates` / `import_files` (so `loadworkflows` and the admin's import) accept:

* the list format, whose `prompt` may be an API prompt or a UI workflow (converted here);
* a bare ComfyUI export — an API prompt, a UI workflow, or a PNG/WebP ComfyUI saved — which becomes one new
  template with the proposed params accepted (catalog.proposals) and what the operator should review
  written into its notes.

A UI workflow is converted with a backend's `/object_info`: the one given, else the first configured GPU
backend that answers, else the one recorded from ComfyUI 0.3.75 that the emulator serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from django.utils.translation import gettext as _

from comfyweb.catalog.backends_check import BackendUnreachable, configured_backends, fetch_object_info
from comfyweb.catalog.comfyui_files import ComfyUIExport, ComfyUIFileError, is_comfyui_export, read_export
from comfyweb.catalog.proposals import build_params, propose_params, unexposed_images
from comfyweb.comfy.workflow import WorkflowConversionError, convert_workflow, is_ui_workflow

RECORDED_OBJECT_INFO = Path(__file__).resolve().parents[1] / "emulator" / "object_info.json"

ObjectInfo = Callable[[], dict]


@cache
def recorded_object_info() -> dict:
    """The /object_info recorded from a real ComfyUI 0.3.75 (the emulator serves the same)."""
    return json.loads(RECORDED_OBJECT_INFO.read_text(encoding="utf-8"))


def default_object_info() -> dict:
    """The first configured GPU backend's /object_info that answers, else the recorded one."""
    for _name, url, kind, token in configured_backends():
        try:
            return fetch_object_info(url, kind, token)
        except BackendUnreachable:
            continue
    return recorded_object_info()


def object_info_once(object_info: dict | None = None) -> ObjectInfo:
    """A getter that asks for the default /object_info only when a conversion needs it, and once."""
    found: list[dict] = [object_info] if object_info is not None else []

    def get() -> dict:
        if not found:
            found.append(default_object_info())
        return found[0]

    return get


def entry_from_export(export: ComfyUIExport, object_info: dict, *, title: str) -> dict:
    """A template entry for a bare export: the proposed params accepted, the rest said in its notes."""
    proposals = propose_params(export.prompt, object_info, export.groups)
    prompt, params = build_params(export.prompt, proposals)
    notes = [_("Imported from a ComfyUI %(source)s; the proposed fields were accepted:") % {"source": export.source}]
    notes.extend(f"- {p.reason}" for p in proposals if p.recommended)
    review = [str(m) + _(": the backend it was converted with has no such node type.") for m in export.missing]
    review.extend(export.warnings)
    review.extend(unexposed_images(prompt, params))
    if review:
        notes.append(_("To review:"))
        notes.extend(f"- {line}" for line in review)
    return {"title": title, "prompt": prompt, "params": params, "notes": "\n".join(notes)}


def prepare_entries(data: object, object_info: ObjectInfo, *, title: str) -> tuple[object, list[str], bool]:
    """(entries to import, problems, whether `data` was a bare export rather than a list of templates).

    UI-format prompts inside entries are converted to API prompts; a conversion that fails is a problem
    naming the template.
    """
    if is_comfyui_export(data):
        try:
            export = read_export(data, object_info())
        except ComfyUIFileError as exc:
            return [], [str(exc)], True
        return [entry_from_export(export, object_info(), title=title)], [], True
    entries = [data] if isinstance(data, dict) else data
    if not isinstance(entries, list):
        return data, [], False
    problems = []
    prepared = []
    for position, entry in enumerate(entries):
        if isinstance(entry, dict) and is_ui_workflow(entry.get("prompt")):
            try:
                conversion = convert_workflow(entry["prompt"], object_info())
            except WorkflowConversionError as exc:
                where = _("template %(n)s") % {"n": position + 1}
                problems.append(f"{where} ({entry.get('title')}): prompt: {exc}")
                prepared.append(entry)
                continue
            entry = {**entry, "prompt": conversion.prompt}
        prepared.append(entry)
    return prepared, problems, False
