"""Photos a visitor already chose, kept across a refused submission (and for "make again").

A browser cannot put a file back into a file input, so a photo that passed its checks is stored
(under its content hash, like every input: `jobs.services.store_input_image`) and the visitor's
session maps a random token to it. The page shows the photo as chosen with a ticked "use this
photo" box carrying the token; the next submission uses it unless a new file replaces it or the
box is unticked. Tokens are only valid in the session that holds them.
"""

from __future__ import annotations

import logging
import mimetypes
import secrets
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest

from comfyweb.catalog.forms import UPLOAD_SUFFIX, TemplateImageField, UploadedImage
from comfyweb.jobs.services import store_input_image
from comfyweb.jobs.trust.inputs import refusal_for

logger = logging.getLogger(__name__)

SESSION_KEY = "comfyweb_held_photos"  # {token: storage name}
HELD_SUFFIX = "__held"  # the form key of a kept photo's token: "<field name>__held"
MAX_HELD = 24  # tokens a session keeps (the oldest go first)


def image_field_names(form) -> list[str]:
    """The form's photo upload fields."""
    return [name for name, field in form.fields.items() if isinstance(field, TemplateImageField)]


def _held(request: HttpRequest) -> dict[str, str]:
    held = request.session.get(SESSION_KEY)
    return dict(held) if isinstance(held, dict) else {}


def hold(request: HttpRequest, name: str) -> str:
    """A token for the stored photo `name` in this visitor's session (the same token for the same photo)."""
    held = _held(request)
    for token, stored in held.items():
        if stored == name:
            return token
    token = secrets.token_urlsafe(12)
    held[token] = name
    while len(held) > MAX_HELD:
        held.pop(next(iter(held)))
    request.session[SESSION_KEY] = held
    return token


def forget_held(request: HttpRequest) -> list[str]:
    """Drop every kept photo of this session; the storage names it held."""
    names = list(_held(request).values())
    request.session.pop(SESSION_KEY, None)
    return names


def held_name(request: HttpRequest, token: object) -> str | None:
    """The stored photo a token of this session stands for."""
    return _held(request).get(token) if isinstance(token, str) and token else None


def show_held(field, token: str, name: str) -> None:
    """Mark a form field as holding a kept photo (the page shows it as chosen)."""
    field.held = {"token": token, "url": default_storage.url(name)}


def attach_held_files(request: HttpRequest, form) -> None:
    """Before validation: a kept photo stands in for a photo field the visitor left empty.

    `form.files` must be a mutable copy (see views.template_page). The photo goes through the
    field's checks again like any upload.
    """
    for name in image_field_names(form):
        if form.files.get(name):
            continue
        stored = held_name(request, form.data.get(name + HELD_SUFFIX))
        if stored is None:
            continue
        try:
            with default_storage.open(stored, "rb") as handle:
                data = handle.read()
        except OSError:
            logger.info("a kept photo is gone from storage: %s", stored)
            continue
        content_type = mimetypes.guess_type(stored)[0] or "application/octet-stream"
        form.files[name] = SimpleUploadedFile(PurePosixPath(stored).name, data, content_type=content_type)


def show_posted_photos(request: HttpRequest, form) -> None:
    """A form refused before its checks: show again the kept photos the submission still named."""
    for name in image_field_names(form):
        token = request.POST.get(name + HELD_SUFFIX)
        stored = held_name(request, token)
        if stored is not None:
            show_held(form.fields[name], token, stored)


def photos_sent(form) -> bool:
    """Whether the submission carries a photo of the visitor's (a file, or a kept photo put back)."""
    return any(form.files.get(name) for name in image_field_names(form))


def keep_valid_photos(request: HttpRequest, form, *, threshold: float) -> None:
    """After a refusal (a faulty field, the quota, the queue cap): keep every photo that passed its checks.

    Its checks include the moderation (at the campaign's `threshold`): a photo it refuses is never kept.
    """
    cleaned = getattr(form, "cleaned_data", None) or {}
    for name in image_field_names(form):
        if name in form.errors:
            continue
        value = cleaned.get(name.removesuffix(UPLOAD_SUFFIX))
        if isinstance(value, UploadedImage):
            refused = refusal_for(value, threshold)
            if refused:
                form.add_error(name, refused)
                continue
            stored = store_input_image(value)
            show_held(form.fields[name], hold(request, stored), stored)


def prefill_from_values(request: HttpRequest, form, values: dict) -> None:
    """Make again with the same choices: a job's recorded values as the form's starting point.

    Photos come back as kept photos; values of fields the template no longer has are ignored.
    """
    for name, field in form.fields.items():
        target = name.removesuffix(UPLOAD_SUFFIX)
        value = values.get(target)
        if isinstance(field, TemplateImageField):
            stored = value.get("image") if isinstance(value, dict) else None
            if isinstance(stored, str) and stored.startswith("inputs/") and default_storage.exists(stored):
                show_held(field, hold(request, stored), stored)
                if name != target and target in form.fields:
                    form.initial[target] = None  # the gallery shows no pick: the kept photo is the choice
        elif name in values and not isinstance(value, dict):
            form.initial[name] = value
