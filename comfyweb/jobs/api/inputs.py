"""Turning a job request's JSON values into the data and files of the template's own form.

A job request is checked by the very form the template page uses (`build_template_form`):
JSON values become that form's data and files. Pictures may be given as data URLs (or bare
base64), as http(s) URLs fetched with the SSRF checks of comfyweb.core.fetch, as one of the panel's gallery
options, or as multipart files under the same "<node id>.<input key>" names.
"""

from __future__ import annotations

import mimetypes

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.utils.translation import gettext as _

from comfyweb.catalog.forms import UPLOAD_SUFFIX
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import field_name, iter_panels
from comfyweb.comfy.inputs import InputError, classify_image_value, data_url_type, decode_base64_image
from comfyweb.core.fetch import FetchError, FetchPolicy, fetch_url

IMAGE_FETCH_TIMEOUT = 15.0


class FieldError(Exception):
    """A value the API cannot turn into form input; the message is for the client."""


def image_fetch_policy() -> FetchPolicy:
    """Limits for pictures the API downloads: the upload limits, public addresses only."""
    return FetchPolicy(
        max_bytes=settings.UPLOAD_MAX_BYTES,
        timeout=IMAGE_FETCH_TIMEOUT,
        allow_hosts=frozenset(settings.API_FETCH_ALLOW_HOSTS),
    )


def _decoded_upload(name: str, value: str) -> SimpleUploadedFile:
    """A data URL or bare base64 picture as an uploaded file (the form checks what it really is)."""
    content_type = "application/octet-stream"
    if value.startswith("data:"):
        named_type = data_url_type(value)
        if named_type is None:
            raise FieldError(_("A data URL must be base64 encoded: data:image/png;base64,…"))
        content_type = named_type or content_type
        if not content_type.startswith("image/"):
            raise FieldError(_("This data URL is not an image (%(type)s).") % {"type": content_type})
    try:
        data = decode_base64_image(value)
    except InputError:
        raise FieldError(_("The picture is not valid base64.")) from None
    extension = (mimetypes.guess_extension(content_type) or ".bin").lstrip(".")
    return SimpleUploadedFile(f"{name}.{extension}", data, content_type=content_type)


def _fetched_upload(name: str, url: str) -> SimpleUploadedFile:
    """Download a picture for the form, refusing private addresses (SSRF) on every redirect."""
    try:
        data = async_to_sync(fetch_url)(url, image_fetch_policy())
    except FetchError as exc:
        raise FieldError(_("The picture at this URL cannot be used: %(reason)s") % {"reason": exc}) from None
    return SimpleUploadedFile(f"{name}.img", data)


def image_form_input(name: str, value: object, gallery: list[str]) -> tuple[str, object]:
    """('data', option) for a gallery pick, else ('file', upload) for a picture given inline or by URL."""
    if not isinstance(value, str):
        raise FieldError(_("Give the picture as a data URL, an http(s) URL or a multipart file."))
    if value in gallery:
        return "data", value
    kind = classify_image_value(value)
    if kind in ("data_url", "base64"):
        return "file", _decoded_upload(name, value)
    if kind == "url":
        return "file", _fetched_upload(name, value)
    if gallery:
        return "data", value  # not an option: the form's choice field says so
    raise FieldError(_("Give the picture as a data URL, an http(s) URL or a multipart file."))


def form_input(template: WorkflowTemplate, values: dict, files) -> tuple[dict, dict, dict[str, list[str]]]:
    """(data, files, errors) for the template's form from API values and multipart files."""
    panels = {field_name(p): p for p in iter_panels(template.params or []) if not p.get("hidden")}
    data: dict = {}
    form_files: dict = {}
    errors: dict[str, list[str]] = {}
    allowed = ", ".join(panels) or "—"
    for name, upload in (files or {}).items():
        target = name.removesuffix(UPLOAD_SUFFIX)
        panel = panels.get(target)
        if panel is None or panel.get("type") != "image":
            errors[name] = [_("Unknown picture field. This workflow takes: %(names)s") % {"names": allowed}]
            continue
        if panel.get("upload") is False:
            errors[name] = [_("This field takes one of its pictures (see its options), not a file.")]
            continue
        if isinstance(upload, UploadedFile):
            form_files[_upload_field(panel)] = upload
    for name, value in values.items():
        panel = panels.get(name)
        if panel is None:
            errors[name] = [_("Unknown field. This workflow takes: %(names)s") % {"names": allowed}]
            continue
        if value is None or _upload_field(panel) in form_files:
            continue
        if isinstance(value, (dict, list)):
            errors[name] = [_("Give a text or a number.")]
            continue
        if panel.get("type") != "image":
            data[name] = value
            continue
        gallery = [str(o) for o in panel.get("options") or []] if isinstance(panel.get("options"), list) else []
        if panel.get("upload") is False and gallery:
            data[name] = value  # one of the pictures only: the form's choice field says when it is not
            continue
        try:
            where, converted = image_form_input(name, value, gallery)
        except FieldError as exc:
            errors[name] = [str(exc)]
            continue
        if where == "data":
            data[name] = converted
        else:
            form_files[_upload_field(panel)] = converted
    return data, form_files, errors


def _upload_field(panel: dict) -> str:
    """The form's file field of an image panel: its own name, or name + "__upload" next to a gallery."""
    name = field_name(panel)
    return name + UPLOAD_SUFFIX if isinstance(panel.get("options"), list) and panel.get("options") else name


def form_errors(form) -> dict[str, list[str]]:
    """The form's errors under the API's value names (a gallery's upload field is the panel's field)."""
    errors: dict[str, list[str]] = {}
    for name, messages in form.errors.items():
        key = "non_field_errors" if name == "__all__" else name.removesuffix(UPLOAD_SUFFIX)
        errors.setdefault(key, []).extend(str(m) for m in messages)
    return errors
