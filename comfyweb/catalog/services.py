"""Importing and exporting templates in the `workflows/*.json` list format, and backend checks."""

from __future__ import annotations

import io
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw

from comfyweb.catalog.forms import UploadedImage, check_image_bytes, has_usable_default
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import field_name, is_link, iter_panels, validate_template

TEXT_KEYS = ("title", "slug", "description", "notes", "cover")
EXPORTED_KEYS = ("title", "slug", "description", "notes", "cover", "prompt", "params")


def template_slug(entry: dict) -> str:
    """The entry's slug, or one made from its title (Chinese titles keep their characters)."""
    return entry.get("slug") or slugify(entry.get("title", ""), allow_unicode=True)


@transaction.atomic
def import_templates(data: object, *, enable: bool | None = None, first_position: int = 0) -> list[WorkflowTemplate]:
    """Create or update templates by slug from a list of entries; all or nothing.

    Importing the same file twice changes nothing (versions only move when prompt/params change).
    """
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValidationError(_("A workflows file holds a JSON list of templates."))
    problems: list[str] = []
    saved = []
    slugs: set[str] = set()
    for position, entry in enumerate(data):
        where = _("template %(n)s") % {"n": position + 1}
        if not isinstance(entry, dict) or not entry.get("title") or "prompt" not in entry:
            problems.append(_("%(where)s: needs at least a title, a prompt and params.") % {"where": where})
            continue
        not_text = [key for key in TEXT_KEYS if key in entry and not isinstance(entry[key], str)]
        if not_text:
            problems.append(_("%(where)s: %(keys)s must be text.") % {"where": where, "keys": ", ".join(not_text)})
            continue
        where = f"{where} ({entry['title']})"
        found = validate_template(entry.get("prompt"), entry.get("params", []))
        if found:
            problems.extend(f"{where}: {p}" for p in found)
            continue
        slug = template_slug(entry)
        if slug in slugs:
            problems.append(
                _("%(where)s: another template of this file has the slug %(slug)s.") % {"where": where, "slug": slug}
            )
            continue
        slugs.add(slug)
        template = WorkflowTemplate.objects.filter(slug=slug).first() or WorkflowTemplate(slug=slug)
        template.title = entry["title"]
        template.description = entry.get("description", "") or ""
        template.notes = entry.get("notes", "") or ""
        template.cover = entry.get("cover", "") or ""
        template.prompt = entry["prompt"]
        template.params = entry.get("params", [])
        template.translations = entry.get("translations") or {}
        if template.pk is None:
            template.ordering = entry.get("ordering", first_position + position)
        if enable is not None:
            template.enabled = enable
        try:
            template.full_clean()
        except ValidationError as exc:
            problems.extend(f"{where}: {name}: {'; '.join(messages)}" for name, messages in exc.message_dict.items())
            continue
        if not problems:
            template.save()
        saved.append(template)
    if problems:
        raise ValidationError(problems)
    return saved


def read_workflow_files(paths: list[Path]) -> list[tuple[Path, object]]:
    """The parsed JSON of every `*.json` file given (directories are expanded, sorted)."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    parsed = []
    for file in files:
        try:
            parsed.append((file, json.loads(file.read_text(encoding="utf-8-sig"))))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(_("%(file)s is not valid JSON: %(error)s") % {"file": file, "error": exc}) from exc
    return parsed


@transaction.atomic
def import_files(paths: list[Path]) -> list[WorkflowTemplate]:
    """Import every `*.json` file (or directory of them) given; nothing is saved if one is invalid."""
    saved = []
    problems: list[str] = []
    for file, data in read_workflow_files(paths):
        try:
            saved.extend(import_templates(data, first_position=len(saved)))
        except ValidationError as exc:
            problems.extend(f"{file.name}: {message}" for message in exc.messages)
    if problems:
        raise ValidationError(problems)
    return saved


def export_templates(queryset=None) -> list[dict]:
    """Templates in the list format `import_templates` reads back unchanged (`translations` when there are)."""
    queryset = WorkflowTemplate.objects.all() if queryset is None else queryset
    exported = []
    for template in queryset:
        entry = {key: getattr(template, key) for key in EXPORTED_KEYS}
        if template.translations:
            entry["translations"] = template.translations
        exported.append(entry)
    return exported


def check_against_object_info(prompt: dict, object_info: dict, params: list | None = None) -> list[str]:
    """What a backend lacks to run `prompt`: node types, COMBO values, values out of range.

    With `params`, every value a visitor may pick is checked too: each select option and the
    min/max of each number panel.
    """
    problems = []
    for node_id, node in prompt.items():
        spec = object_info.get(node.get("class_type"))
        where = f"{node_id} ({node.get('class_type')})"
        if spec is None:
            problems.append(
                _("%(where)s: this backend has no such node type (missing custom node?).") % {"where": where}
            )
            continue
        declared = _declared_inputs(spec)
        inputs = node.get("inputs", {})
        for key in spec.get("input", {}).get("required", {}):
            if key not in inputs:
                problems.append(
                    _("%(where)s: this backend requires an input %(key)s the prompt does not set.")
                    % {"where": where, "key": key}
                )
        for key, value in inputs.items():
            if is_link(value) or key not in declared:
                continue
            problems.extend(_check_input(where, key, value, declared[key]))
    for panel in iter_panels(params or []):
        node = prompt.get(str(panel.get("id")), {})
        spec = object_info.get(node.get("class_type"))
        declared = _declared_inputs(spec).get(panel.get("key")) if spec else None
        if not declared:
            continue
        where = f"{panel.get('id')} ({node.get('class_type')})"
        candidates: list = []
        if panel.get("type") == "select" and isinstance(panel.get("options"), list):
            candidates = panel["options"]
        elif panel.get("type") == "number":
            candidates = [panel[bound] for bound in ("min", "max") if isinstance(panel.get(bound), (int, float))]
        current = node.get("inputs", {}).get(panel.get("key"))
        for value in candidates:
            if value != current:
                problems.extend(
                    _check_input(where, panel["key"], value, declared, offered_by=_("a choice of the form"))
                )
    return problems


def _declared_inputs(spec: dict) -> dict:
    inputs = spec.get("input", {})
    return {**inputs.get("required", {}), **inputs.get("optional", {})}


def _check_input(where: str, key: str, value: object, spec: list, offered_by: str = "") -> list[str]:
    kind = spec[0] if spec else None
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if kind == "COMBO":  # newer object_info: ["COMBO", {"options": [...]}]
        kind = options.get("options", [])
    suffix = f" ({offered_by})" if offered_by else ""
    if isinstance(kind, list):
        if options.get("image_upload") or key == "image":
            return []  # LoadImage accepts uploads the agent makes at run time
        if value not in kind:
            return [
                _("%(where)s: %(key)s=%(value)r is not offered by this backend (missing model or bad name?).")
                % {"where": where, "key": key, "value": value}
                + suffix
            ]
        return []
    if kind in ("INT", "FLOAT") and isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = options.get("min"), options.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return [
                _("%(where)s: %(key)s=%(value)s is outside %(lo)s…%(hi)s.")
                % {"where": where, "key": key, "value": value, "lo": lo, "hi": hi}
                + suffix
            ]
    return []


def sample_photo() -> UploadedImage:
    """A small generated picture (a warm gradient with a figure) standing in for a visitor's photo."""
    image = Image.new("RGB", (384, 512))
    pixels = image.load()
    for y in range(512):
        for x in range(384):
            pixels[x, y] = (180 + x // 8, 120 + y // 8, 90 + (x + y) // 16)
    ImageDraw.Draw(image).ellipse((132, 96, 252, 216), fill=(90, 60, 50))
    ImageDraw.Draw(image).rounded_rectangle((102, 228, 282, 512), radius=40, fill=(90, 60, 50))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return check_image_bytes(out.getvalue(), "sample.jpg")


def sample_values(template: WorkflowTemplate) -> dict:
    """Values for a test run ("try it"): prompt defaults, the first gallery option, a generated photo."""
    prompt = template.prompt or {}
    values: dict = {}
    for panel in iter_panels(template.params or []):
        if panel.get("hidden") or panel.get("type") != "image":
            continue
        current = prompt.get(str(panel.get("id")), {}).get("inputs", {}).get(panel.get("key"))
        if has_usable_default(current):
            continue
        options = panel.get("options")
        values[field_name(panel)] = options[0] if isinstance(options, list) and options else sample_photo()
    return values
