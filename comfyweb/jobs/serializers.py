"""Translating between the REST API's JSON and the catalog form / job snapshot.

A job request is checked by the very form the template page uses (`build_template_form`):
JSON values become that form's data and files. Pictures may be given as data URLs (or bare
base64), as http(s) URLs fetched with the agent's SSRF checks, as one of the panel's gallery
options, or as multipart files under the same "<node id>.<input key>" names.
"""

from __future__ import annotations

import mimetypes

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from comfyweb.agent.inputs import (
    InputError,
    InputPolicy,
    classify_image_value,
    data_url_type,
    decode_base64_image,
    fetch_image_url,
)
from comfyweb.catalog.forms import UPLOAD_SUFFIX, build_template_form, has_usable_default
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import field_name, iter_panels
from comfyweb.core.templatetags.comfyweb_tags import image_src
from comfyweb.jobs.selectors import job_snapshot

IMAGE_FETCH_TIMEOUT = 15.0
MAX_QUANTITY = 8


class FieldError(Exception):
    """A value the API cannot turn into form input; the message is for the client."""


def image_fetch_policy() -> InputPolicy:
    """Limits for pictures the API downloads: the upload limits, public addresses only."""
    return InputPolicy(
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_pixels=settings.UPLOAD_MAX_PIXELS,
        fetch_timeout=IMAGE_FETCH_TIMEOUT,
        allow_hosts=frozenset(getattr(settings, "API_FETCH_ALLOW_HOSTS", ())),
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
        data = async_to_sync(fetch_image_url)(url, image_fetch_policy())
    except InputError as exc:
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


class JobCreateSerializer(serializers.Serializer):
    """A job request: which workflow, the values of its fields, how many images."""

    workflow = serializers.CharField(help_text="The slug of an enabled workflow (GET /api/v1/workflows/).")
    values = serializers.DictField(
        child=serializers.JSONField(allow_null=True),
        required=False,
        default=dict,
        help_text='Field name "<node id>.<input key>" → value. Pictures: a data URL, an http(s) URL, a gallery '
        "option, or (multipart) a file field of the same name. Fields left out keep the workflow's defaults.",
    )
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)

    def validate_workflow(self, slug: str) -> WorkflowTemplate:
        template = WorkflowTemplate.objects.filter(slug=slug, enabled=True).first()
        if template is None:
            raise serializers.ValidationError(_("Unknown workflow %(slug)r.") % {"slug": slug})
        return template

    def validate(self, attrs: dict) -> dict:
        """Run the template page's form on the values: the API accepts exactly what the page accepts."""
        template = attrs["workflow"]
        data, files, errors = form_input(template, attrs.get("values") or {}, self.context.get("files"))
        form = build_template_form(
            template, data=data, files=files, options_resolver=self.context.get("options_resolver")
        )
        if not form.is_valid() or errors:
            raise serializers.ValidationError({"values": {**form_errors(form), **errors}})
        attrs["cleaned_values"] = form.cleaned_data
        return attrs


class WorkflowFieldSerializer(serializers.Serializer):
    """One value a client may send (documentation of `workflow_fields`)."""

    name = serializers.CharField(help_text='The key in "values": "<node id>.<input key>".')
    type = serializers.ChoiceField(choices=["image", "select", "number", "string"])
    title = serializers.CharField()
    description = serializers.CharField()
    group = serializers.CharField(allow_null=True, help_text="The title of the step (group panel) it belongs to.")
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True, help_text="The workflow's own value, used when left out.")
    options = serializers.ListField(child=serializers.JSONField(), required=False)
    labels = serializers.ListField(child=serializers.CharField(), required=False)
    min = serializers.FloatField(required=False, allow_null=True)
    max = serializers.FloatField(required=False, allow_null=True)
    step = serializers.FloatField(required=False, allow_null=True)


def workflow_fields(template: WorkflowTemplate, options_resolver=None) -> list[dict]:
    """The visible panels as the form sees them: names, types, defaults, choices and bounds."""
    form = build_template_form(template, options_resolver=options_resolver)
    prompt = template.prompt or {}
    group_of = {
        field_name(child): str(panel.get("title") or "")
        for panel in template.params or []
        if isinstance(panel, dict) and panel.get("type") == "group"
        for child in iter_panels(panel.get("children") or [])
    }
    fields = []
    for panel in iter_panels(template.params or []):
        name = field_name(panel)
        field = form.fields.get(name)
        if panel.get("hidden") or field is None:
            continue
        current = prompt.get(str(panel.get("id")), {}).get("inputs", {}).get(panel.get("key"))
        kind = panel.get("type")
        entry = {
            "name": name,
            "type": kind,
            "title": str(panel.get("title") or name),
            "description": str(panel.get("description") or ""),
            "group": group_of.get(name),
            "required": name in form.required_images,  # anything else left out keeps the default
            "default": current if kind != "image" or has_usable_default(current) else None,
        }
        if kind == "image":
            entry["options"] = [value for value, _label in getattr(field, "choices", [])]
        elif kind == "select":
            entry["options"] = list(field.originals.values())
            entry["labels"] = [str(label) for _value, label in field.choices]
        elif kind == "number":
            entry.update(min=panel.get("min"), max=panel.get("max"), step=panel.get("step"))
        fields.append(entry)
    return fields


class WorkflowSerializer(serializers.Serializer):
    """An enabled workflow template as API clients see it."""

    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    cover_url = serializers.SerializerMethodField()
    version = serializers.IntegerField()
    fields = serializers.SerializerMethodField(method_name="describe_fields")

    def get_cover_url(self, template: WorkflowTemplate) -> str | None:
        src = image_src(template.cover)
        if not src:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(src) if request is not None and src.startswith("/") else src

    @extend_schema_field(WorkflowFieldSerializer(many=True))
    def describe_fields(self, template: WorkflowTemplate) -> list[dict]:
        return workflow_fields(template, self.context.get("options_resolver"))


class JobOutputSerializer(serializers.Serializer):
    url = serializers.CharField()
    thumbnail_url = serializers.CharField()
    download_url = serializers.CharField(help_text="GET it with the same credentials: the file as an attachment.")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)


class CurrentNodeSerializer(serializers.Serializer):
    node = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    class_type = serializers.CharField()
    value = serializers.IntegerField()
    max = serializers.IntegerField()


class JobSerializer(serializers.Serializer):
    """A job's snapshot: the same object the browser's WebSocket sends (selectors.job_snapshot)."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "dispatched", "running", "succeeded", "failed", "cancelled"])
    percent = serializers.FloatField()
    queue_position = serializers.IntegerField(allow_null=True, help_text="1 for the next job to start.")
    estimate_seconds = serializers.IntegerField(allow_null=True)
    current = CurrentNodeSerializer(allow_null=True, help_text="The node running now.")
    nodes = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    error = serializers.CharField()
    outputs = JobOutputSerializer(many=True)
    template = serializers.CharField(allow_null=True, help_text="The workflow's slug.")
    title = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    batch = serializers.UUIDField(allow_null=True, help_text="Jobs created by one request share it.")
    seeds = serializers.DictField(child=serializers.IntegerField(), help_text="The random seeds the job used.")

    def to_representation(self, job) -> dict:
        return job_snapshot(job)


class JobBatchSerializer(serializers.Serializer):
    """What POST /jobs/ answers: the new jobs (quantity of them)."""

    batch = serializers.UUIDField(allow_null=True)
    jobs = JobSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(required=False)
