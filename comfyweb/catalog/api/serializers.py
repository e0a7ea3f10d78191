"""The REST API's description of a workflow template: its values, as the template's form sees them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from comfyweb.catalog.forms import build_template_form, has_usable_default
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import field_name, iter_panels
from comfyweb.core.templatetags.comfyweb_tags import image_src


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
    upload = serializers.BooleanField(
        required=False, help_text="image: whether a picture of your own is taken (else only one of `options`)."
    )
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
            entry["upload"] = panel.get("upload") is not False or not entry["options"]
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
