"""Importing and exporting templates in the `workflows/*.json` list format, and backend checks."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import is_link, validate_template

EXPORTED_KEYS = ("title", "slug", "description", "cover", "prompt", "params")


def template_slug(entry: dict) -> str:
    """The entry's slug, or one made from its title (Chinese titles keep their characters)."""
    return entry.get("slug") or slugify(entry.get("title", ""), allow_unicode=True)


@transaction.atomic
def import_templates(data: object, *, enable: bool | None = None) -> list[WorkflowTemplate]:
    """Create or update templates by slug from a list of entries; all or nothing."""
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValidationError(_("A workflows file holds a JSON list of templates."))
    problems: list[str] = []
    saved = []
    for position, entry in enumerate(data):
        where = _("template %(n)s") % {"n": position + 1}
        if not isinstance(entry, dict) or not entry.get("title"):
            problems.append(_("%(where)s: needs at least a title, a prompt and params.") % {"where": where})
            continue
        where = f"{where} ({entry['title']})"
        found = validate_template(entry.get("prompt"), entry.get("params", []))
        if found:
            problems.extend(f"{where}: {p}" for p in found)
            continue
        slug = template_slug(entry)
        template = WorkflowTemplate.objects.filter(slug=slug).first() or WorkflowTemplate(slug=slug)
        template.title = entry["title"]
        template.description = entry.get("description", "")
        template.cover = entry.get("cover", "")
        template.prompt = entry["prompt"]
        template.params = entry.get("params", [])
        if template.pk is None:
            template.ordering = entry.get("ordering", position)
        if enable is not None:
            template.enabled = enable
        template.save()
        saved.append(template)
    if problems:
        raise ValidationError(problems)
    return saved


def import_files(paths: list[Path]) -> list[WorkflowTemplate]:
    """Import every `*.json` file (or directory of them) given."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    saved = []
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValidationError(_("%(file)s is not valid JSON: %(error)s") % {"file": file, "error": exc}) from exc
        saved.extend(import_templates(data))
    return saved


def export_templates(queryset=None) -> list[dict]:
    """Templates in the list format `import_templates` reads back unchanged."""
    queryset = WorkflowTemplate.objects.all() if queryset is None else queryset
    return [{key: getattr(t, key) for key in EXPORTED_KEYS} for t in queryset]


def check_against_object_info(prompt: dict, object_info: dict) -> list[str]:
    """What a backend lacks to run `prompt`: node types, COMBO values, values out of range."""
    problems = []
    for node_id, node in prompt.items():
        spec = object_info.get(node.get("class_type"))
        where = f"{node_id} ({node.get('class_type')})"
        if spec is None:
            problems.append(
                _("%(where)s: this backend has no such node type (missing custom node?).") % {"where": where}
            )
            continue
        declared = {**spec.get("input", {}).get("required", {}), **spec.get("input", {}).get("optional", {})}
        for key, value in node.get("inputs", {}).items():
            if is_link(value) or key not in declared:
                continue
            problems.extend(_check_input(where, key, value, declared[key]))
    return problems


def _check_input(where: str, key: str, value: object, spec: list) -> list[str]:
    kind = spec[0] if spec else None
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if kind == "COMBO":  # newer object_info: ["COMBO", {"options": [...]}]
        kind = options.get("options", [])
    if isinstance(kind, list):
        if options.get("image_upload") or key == "image":
            return []  # LoadImage accepts uploads the agent makes at run time
        if value not in kind:
            return [
                _("%(where)s: %(key)s=%(value)r is not offered by this backend (missing model or bad name?).")
                % {"where": where, "key": key, "value": value}
            ]
        return []
    if kind in ("INT", "FLOAT") and isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = options.get("min"), options.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return [
                _("%(where)s: %(key)s=%(value)s is outside %(lo)s…%(hi)s.")
                % {"where": where, "key": key, "value": value, "lo": lo, "hi": hi}
            ]
    return []
