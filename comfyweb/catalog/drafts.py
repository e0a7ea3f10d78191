"""Drafts and versions of a template: what the admin's editor saves, publishes, discards and restores.

Visitors read a template's own fields, which hold its published version. The editor never writes them
while a template is published: it keeps the operator's changes in the template's draft (a
`TemplateVersion` without `published_at`), and `publish` makes the draft the new version visitors see.
A template the admin created and never published holds its draft in its own fields too (it has no
`published_at`, so no visitor page, API answer or job reads it).
"""

from __future__ import annotations

import copy

from django.db import transaction
from django.utils import timezone

from comfyweb.catalog.models import CONTENT_FIELDS, TemplateVersion, WorkflowTemplate


def content_of(obj) -> dict:
    """The versioned content (title, description, cover, prompt, params, translations) of a template,
    a version or a draft."""
    return {name: copy.deepcopy(getattr(obj, name)) for name in CONTENT_FIELDS}


def apply_content(obj, content: dict):
    """Put `content` into `obj` (in memory only) and return it."""
    for name in CONTENT_FIELDS:
        if name in content:
            setattr(obj, name, copy.deepcopy(content[name]))
    return obj


def draft_of(template: WorkflowTemplate) -> TemplateVersion | None:
    if template.pk is None:
        return None
    return TemplateVersion.objects.filter(template=template, published_at__isnull=True).first()


def published_content(template: WorkflowTemplate) -> dict | None:
    """What visitors see, read from the database (the object in memory may hold the draft)."""
    if template.pk is None:
        return None
    row = WorkflowTemplate.objects.filter(pk=template.pk, published_at__isnull=False).values(*CONTENT_FIELDS)
    return row.first()


def editing_content(template: WorkflowTemplate) -> dict:
    """What the editor shows: the draft when there is one, else the published version."""
    draft = draft_of(template)
    return content_of(draft if draft is not None else template)


def for_editing(template: WorkflowTemplate) -> WorkflowTemplate:
    """The template with its draft's content in memory (the admin's change form edits that)."""
    draft = draft_of(template)
    if draft is not None:
        apply_content(template, content_of(draft))
    return template


@transaction.atomic
def save_draft(template: WorkflowTemplate, content: dict, user=None) -> TemplateVersion | None:
    """Keep `content` as the template's draft; visitors go on seeing the published version.

    A draft equal to the published version is no draft: it is removed and None is returned.
    """
    published = published_content(template)
    draft = draft_of(template)
    if published is None:
        # Never published: the template's own fields are its draft too (lists and searches show them).
        apply_content(template, content)
        template.save(as_draft=True)
    elif published == content:
        if draft is not None:
            draft.delete()
        return None
    if draft is None:
        draft = TemplateVersion(template=template, created_by=user if _is_user(user) else None)
    apply_content(draft, content)
    draft.save()
    return draft


@transaction.atomic
def publish(template: WorkflowTemplate, user=None) -> TemplateVersion:
    """Make the draft (if any) the version visitors see, and show the template to them (`enabled`).

    Returns the published version. In memory, `template` then holds what was published.
    """
    fresh = WorkflowTemplate.objects.select_for_update().get(pk=template.pk)
    draft = draft_of(fresh)
    fresh.enabled = True
    if draft is None and fresh.published_at is not None:
        fresh.save(update_fields=["enabled", "updated_at"])
        version = fresh.versions.filter(number=fresh.version).first()
    else:
        editor = None
        if draft is not None:
            apply_content(fresh, content_of(draft))
            editor = draft.created_by
            draft.delete()
        fresh.save(new_version=True)
        version = fresh.versions.get(number=fresh.version)
        version.created_by = editor or (user if _is_user(user) else None)
        version.published_by = user if _is_user(user) else None
        version.save(update_fields=["created_by", "published_by"])
    for name in (*CONTENT_FIELDS, "version", "published_at", "enabled", "updated_at"):
        setattr(template, name, getattr(fresh, name))
    if version is None:  # a template published before versions were kept
        version = TemplateVersion.objects.create(
            template=fresh, number=fresh.version, published_at=fresh.published_at or timezone.now(), **content_of(fresh)
        )
    return version


def discard_draft(template: WorkflowTemplate) -> bool:
    """Drop the draft of a published template (the editor shows the published version again)."""
    if template.published_at is None:
        return False
    deleted, _ = TemplateVersion.objects.filter(template=template, published_at__isnull=True).delete()
    return bool(deleted)


def restore(template: WorkflowTemplate, version: TemplateVersion, user=None) -> TemplateVersion | None:
    """Make an earlier version the draft again (publishing it makes visitors see it); None when it is the
    version visitors see already."""
    return save_draft(template, content_of(version), user)


def run_as(template: WorkflowTemplate, content: dict | None) -> WorkflowTemplate:
    """A copy of `template`, in memory, whose content is `content` (a draft under test): what a test run
    runs. Its `version` is 0, the number jobs record for a draft; None keeps the published version."""
    copied = copy.copy(template)
    if content is not None:
        apply_content(copied, content)
        copied.version = 0
    return copied


def _is_user(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "pk", None) is not None
