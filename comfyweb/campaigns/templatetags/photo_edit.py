"""`{% photo_shape workflow_template field %}`: the shape ("640:800") a template crops or scales a photo
field's picture to, for the form's photo editor (static/js/photo-edit.js); "" when the workflow names none."""

from __future__ import annotations

from django import template

from comfyweb.catalog.forms import UPLOAD_SUFFIX
from comfyweb.comfy.prompt import image_input_shape

register = template.Library()


@register.simple_tag
def photo_shape(workflow_template, field) -> str:
    prompt = getattr(workflow_template, "prompt", None)
    name = getattr(field, "name", "")
    if not isinstance(prompt, dict) or "." not in name:
        return ""
    node_id = name.removesuffix(UPLOAD_SUFFIX).rsplit(".", 1)[0]
    shape = image_input_shape(prompt, node_id)
    return f"{shape[0]}:{shape[1]}" if shape else ""
