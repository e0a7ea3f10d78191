"""Importing and exporting templates in the `workflows/*.json` list format, and backend checks.

Imports take the list format (docs/templates.md, checked against template.schema.json) and anything
ComfyUI saves (catalog.importing): UI workflows are converted, bare exports become new templates.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw

from comfyweb.catalog.comfyui_files import PNG_SIGNATURE, ComfyUIFileError, is_comfyui_export, read_file
from comfyweb.catalog.forms import UploadedImage, check_image_bytes, has_usable_default
from comfyweb.catalog.importing import entry_from_export, object_info_once, prepare_entries
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.object_info_check import check_against_object_info  # noqa: F401 - its historic home
from comfyweb.catalog.params import field_name, iter_panels, validate_template
from comfyweb.catalog.schema import file_problems
from comfyweb.catalog.slugs import slugify_title, unique_slug

TEXT_KEYS = ("title", "slug", "description", "notes", "cover")
EXPORTED_KEYS = ("title", "slug", "description", "notes", "cover", "prompt", "params")


def template_slug(entry: dict) -> str:
    """The entry's slug, or an ASCII one made from its title (破次元壁合照 → po-ci-yuan-bi-he-zhao)."""
    return entry.get("slug") or slugify_title(entry.get("title", ""))


def _existing(entry: dict, slug: str) -> WorkflowTemplate | None:
    """The template an entry updates: by slug; an entry without one also finds a template imported before slugs
    were ASCII (its slug was the title's own characters), which keeps its address."""
    found = WorkflowTemplate.objects.filter(slug=slug).first()
    if found is None and not entry.get("slug"):
        legacy = slugify(entry.get("title", ""), allow_unicode=True)
        found = WorkflowTemplate.objects.filter(slug=legacy).first() if legacy else None
    return found


def _slug_taken(slug: str) -> bool:
    return WorkflowTemplate.objects.filter(slug=slug).exists()


@transaction.atomic
def import_templates(
    data: object,
    *,
    enable: bool | None = None,
    first_position: int = 0,
    object_info: dict | None = None,
    title: str = "",
    as_draft: bool = False,
) -> list[WorkflowTemplate]:
    """Create or update templates by slug from a list of entries; all or nothing.

    Importing the same file twice changes nothing (versions only move when prompt/params change). `data`
    may also be a bare ComfyUI export (an API prompt or a UI workflow): it becomes one new template titled
    `title`, with the proposed params, disabled until an operator enables it (unless `enable` says).
    UI workflows are converted with `object_info` (default: a configured backend's, else the recorded one).
    `as_draft` keeps such a new template (disabled) a draft nobody published: the admin's import, whose
    operator publishes it.
    """
    data, problems, bare = prepare_entries(data, object_info_once(object_info), title=title or _("ComfyUI workflow"))
    if bare:
        if problems:
            raise ValidationError(problems)
        for entry in data:
            entry["slug"] = unique_slug(entry["title"], _slug_taken)
        enable = False if enable is None else enable
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValidationError(_("A workflows file holds a JSON list of templates."))
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
        template = _existing(entry, slug) or WorkflowTemplate(slug=slug)
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
            if as_draft and enable is False and template.pk is None:
                template.version, template.published_at = 0, None
                template.save(as_draft=True)
            else:
                template.save()
        saved.append(template)
    if problems:
        raise ValidationError(problems)
    return saved


def workflow_files(paths: list[Path]) -> list[Path]:
    """The files to import: files as given, directories expanded to their `*.json` (sorted)."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


@transaction.atomic
def import_files(paths: list[Path], *, object_info: dict | None = None) -> list[WorkflowTemplate]:
    """Import every file (or directory of `*.json`) given; nothing is saved if one is invalid.

    A file is a list of templates (checked against template.schema.json: problems name their path in the
    file), or anything ComfyUI saves — a workflow, an API prompt, a PNG/WebP — which becomes a new template
    titled after the file.
    """
    saved = []
    problems: list[str] = []
    for file in workflow_files(paths):
        content = file.read_bytes()
        if not (content.startswith(PNG_SIGNATURE) or content[:4] == b"RIFF"):
            try:
                json.loads(content.decode("utf-8-sig"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValidationError(
                    _("%(file)s is not valid JSON: %(error)s") % {"file": file, "error": exc}
                ) from exc
        try:
            saved.extend(import_upload(content, file.name, object_info=object_info, first_position=len(saved)))
        except ValidationError as exc:
            problems.extend(f"{file.name}: {message}" for message in exc.messages)
    if problems:
        raise ValidationError(problems)
    return saved


@transaction.atomic
def import_upload(
    content: bytes,
    filename: str = "",
    *,
    object_info: dict | None = None,
    first_position: int = 0,
    as_draft: bool = False,
) -> list[WorkflowTemplate]:
    """One file to import (what the admin's import receives): a workflows JSON file, or anything ComfyUI
    saves — a workflow or API prompt as JSON, a PNG or WebP with them inside — which becomes a new template
    titled after the file, disabled until an operator enables it (`as_draft`: a draft never published)."""
    title = Path(filename).stem if filename else ""
    if content.startswith(PNG_SIGNATURE) or content[:4] == b"RIFF":
        info = object_info_once(object_info)
        try:
            export = read_file(content, info(), filename=filename)
        except ComfyUIFileError as exc:
            raise ValidationError(str(exc)) from exc
        entry = entry_from_export(export, info(), title=title or _("ComfyUI workflow"))
        entry["slug"] = unique_slug(entry["title"], _slug_taken)
        return import_templates(
            [entry], enable=False, first_position=first_position, object_info=info(), as_draft=as_draft
        )
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(
            _("%(file)s is not valid JSON, nor a PNG or WebP that ComfyUI saved: %(error)s")
            % {"file": filename or _("The file"), "error": exc}
        ) from exc
    problems = [] if is_comfyui_export(data) else file_problems(data)
    try:
        saved = import_templates(
            data, first_position=first_position, object_info=object_info, title=title, as_draft=as_draft
        )
    except ValidationError as exc:
        raise ValidationError(problems + exc.messages) from exc
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
