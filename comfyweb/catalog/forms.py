"""End-user forms built from a template's `params`.

One field per visible panel, named "<node id>.<input key>" (the same keys as the REST API).
Images are checked with Pillow before anything else sees them; the cleaned value of an image
field is an `UploadedImage` (re-encoded, metadata stripped) or a chosen gallery option.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

from django import forms
from django.conf import settings
from django.utils.html import escape, format_html
from django.utils.translation import gettext_lazy as _
from PIL import Image

from comfyweb.catalog.params import field_name, iter_panels, on_step_grid
from comfyweb.comfy.images import ImageInfo, ImageRejected, decode_slots, normalize_image
from comfyweb.core.db import release_pooled_connections

logger = logging.getLogger(__name__)

UPLOAD_SUFFIX = "__upload"
SOURCE_UNAVAILABLE = _("(The list of choices could not be loaded from the GPU backend; only the default is offered.)")
STRING_MAX_LENGTH = 2000

IMAGE_ERRORS = {
    "empty": _("The file is empty."),
    "too_large": _("The image is too large (at most %(mb)s MB)."),
    "not_image": _("This file is not an image we can read. Please upload a JPEG, PNG or WebP photo."),
    "format": _("This image format is not accepted. Please upload a JPEG, PNG or WebP photo."),
    "too_many_pixels": _("The image has too many pixels. Please upload a smaller photo."),
    "damaged": _("The image is damaged or incomplete. Please try another photo."),
}


@dataclass(frozen=True)
class UploadedImage:
    """A visitor's image after the checks: safe bytes ready to send to a GPU backend."""

    data: bytes
    info: ImageInfo
    name: str = ""
    # The decoded pixels, for checks of what the photo shows (jobs.trust.inputs): never decoded twice.
    pixels: Image.Image | None = dataclasses.field(default=None, compare=False, repr=False)


OptionsResolver = Callable[[dict], list[str]]


def release_decoded_photos(cleaned: dict) -> int:
    """Let go of the decoded pixels of a form's photos (its `cleaned_data`) once every check has looked at
    them; how many.

    A Django form is a reference cycle (its bound fields point back at it), so what it holds is freed only
    when the garbage collector finds it, after the request: two decoded phone photos (~9 MB each) per
    submission, piling up in a crowd. The checked bytes (`data`) stay: they are what is kept and sent.
    """
    released = 0
    for name, value in cleaned.items():
        if isinstance(value, UploadedImage) and value.pixels is not None:
            cleaned[name] = dataclasses.replace(value, pixels=None)
            released += 1
    return released


def check_image_bytes(data: bytes, name: str = "") -> UploadedImage:
    """Normalise an uploaded image or raise a ValidationError with a visitor-friendly message.

    The cheap checks come first and take no slot; the decode waits for one of the process's decode slots
    (IMAGE_DECODES_AT_ONCE) and raises DecodersBusy (a 503) when none frees up in IMAGE_DECODE_WAIT.
    The request's pooled database connection is given back first: nobody waits for it meanwhile.
    """
    release_pooled_connections()
    try:
        encoded, info, pixels = normalize_image(
            data,
            max_bytes=settings.UPLOAD_MAX_BYTES,
            max_pixels=settings.UPLOAD_MAX_PIXELS,
            max_side=settings.UPLOAD_MAX_SIDE,
            slots=decode_slots(settings.IMAGE_DECODES_AT_ONCE),
            wait=settings.IMAGE_DECODE_WAIT,
        )
    except ImageRejected as exc:
        message = IMAGE_ERRORS.get(exc.code, IMAGE_ERRORS["not_image"])
        raise forms.ValidationError(message, code=exc.code, params={"mb": settings.UPLOAD_MAX_BYTES // 2**20}) from exc
    return UploadedImage(data=encoded, info=info, name=name, pixels=pixels)


class TemplateImageField(forms.FileField):
    """A photo upload checked with Pillow (format, bytes, pixels, decompression bombs)."""

    widget = forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if not upload:
            return None
        if upload.size and upload.size > settings.UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                IMAGE_ERRORS["too_large"], code="too_large", params={"mb": settings.UPLOAD_MAX_BYTES // 2**20}
            )
        return check_image_bytes(upload.read(), getattr(upload, "name", ""))


def option_label(option: str) -> str:
    """A readable label for a gallery option: its file name without extension."""
    path = urlparse(option).path if "://" in option else option
    stem = PurePosixPath(unquote(path)).stem
    return stem or option


def has_usable_default(value: object) -> bool:
    """Whether the prompt's own image value can run as is (the visitor may then skip the field)."""
    return isinstance(value, str) and value.strip() != ""


class TemplateForm(forms.Form):
    """The form of one template; `cleaned_data` maps field_name(panel) → value.

    A value that is absent (None) keeps the prompt's own value; an image panel with a gallery
    takes the uploaded picture when there is one, else the chosen option.
    """

    template_prompt: dict
    template_params: list
    required_images: frozenset[str] = frozenset()

    def clean(self):
        cleaned = super().clean()
        for name in list(self.fields):
            if not name.endswith(UPLOAD_SUFFIX):
                continue
            target = name[: -len(UPLOAD_SUFFIX)]
            upload = cleaned.pop(name, None)
            if upload is not None:
                cleaned[target] = upload
            elif name in self.errors:
                cleaned.pop(target, None)
            elif not cleaned.get(target) and target in self.required_images and target not in self.errors:
                self.add_error(target, _("Choose one of the pictures or upload your own."))
        return cleaned


def build_template_form(
    template,
    *,
    data=None,
    files=None,
    options_resolver: OptionsResolver | None = None,
) -> TemplateForm:
    """A bound (or unbound) form for `template` (anything with `.prompt` and `.params`)."""
    prompt = template.prompt or {}
    fields: dict[str, forms.Field] = {}
    required_images = set()
    for panel in iter_panels(template.params or []):
        if panel.get("hidden"):
            continue
        current = prompt.get(str(panel.get("id")), {}).get("inputs", {}).get(panel.get("key"))
        panel_fields = _fields_for_panel(panel, current, options_resolver)
        if panel.get("type") == "image" and not has_usable_default(current):
            required_images.add(field_name(panel))
        fields.update(panel_fields)
    if data is not None:
        _keep_defaults_for_omitted(fields, data, files or {})
    form_class = type("TemplateForm", (TemplateForm,), dict(fields))
    form = form_class(data=data, files=files)
    form.template_prompt = prompt
    form.template_params = template.params or []
    form.required_images = frozenset(required_images)
    return form


def _keep_defaults_for_omitted(fields: dict[str, forms.Field], data, files) -> None:
    """Values a client did not send at all (an API call naming only some fields) keep the prompt's own."""
    for name, field in fields.items():
        if isinstance(field, TemplateImageField) or getattr(field, "gallery", False):
            continue
        if field.widget.value_omitted_from_data(data, files, name):
            field.required = False
            field.omitted = True


def _fields_for_panel(panel: dict, current: object, resolver: OptionsResolver | None) -> dict[str, forms.Field]:
    name = field_name(panel)
    # Operator text is data: Django prints a field's help text as HTML (as_div(), the admin), so it is
    # escaped here once, for every place that renders the form. Labels and choices are escaped by Django.
    common = {"label": panel.get("title") or name, "help_text": escape(panel.get("description") or "")}
    kind = panel.get("type")
    options = panel.get("options")
    if isinstance(options, str):
        options = resolve_options(panel, current, resolver)
    if kind == "image":
        required = not has_usable_default(current)
        if options:
            labels = panel.get("labels") if isinstance(panel.get("labels"), list) else []
            if len(labels) != len(options):
                labels = [option_label(o) for o in options]
            choices = list(zip(options, labels, strict=True))
            uploads = panel.get("upload") is not False  # `"upload": false`: visitors pick one of the pictures
            gallery = forms.ChoiceField(
                choices=choices,
                required=required and not uploads,
                initial=current if current in options else None,
                widget=forms.RadioSelect(attrs={"class": "gallery"}),
                error_messages={"required": _("Choose one of the pictures.")},
                **common,
            )
            gallery.gallery = True
            if not uploads:
                return {name: gallery}
            upload = TemplateImageField(
                required=False, label=_("…or upload your own picture"), help_text=_("JPEG, PNG or WebP.")
            )
            return {name: gallery, name + UPLOAD_SUFFIX: upload}
        return {name: TemplateImageField(required=required, **common)}
    if kind == "select":
        labels = panel.get("labels") if isinstance(panel.get("labels"), list) else []
        if len(labels) != len(options or []):
            labels = [str(o) for o in options or []]
        choices = [(str(o), label) for o, label in zip(options or [], labels, strict=True)]
        field = TypedSelectField(choices=choices, originals=list(options or []), initial=current, **common)
        if isinstance(panel.get("options"), str) and options == unresolved_options(current):
            field.help_text = (
                format_html("{} {}", common["help_text"], SOURCE_UNAVAILABLE)
                if common["help_text"]
                else SOURCE_UNAVAILABLE
            )
        return {name: field}
    if kind == "number":
        return {name: _number_field(panel, current, common)}
    if kind == "string":
        text = current if isinstance(current, str) else ""
        widget = forms.Textarea(attrs={"rows": 3}) if len(text) > 60 or "\n" in text else forms.TextInput()
        placeholder = str(panel.get("placeholder") or "")
        if placeholder:  # an example in the empty box; the prompt's own text is kept when it stays empty
            widget.attrs["placeholder"] = placeholder
        field = TemplateTextField(
            max_length=STRING_MAX_LENGTH, initial="" if placeholder else text, widget=widget, **common
        )
        field.blank_keeps_default = bool(placeholder)
        return {name: field}
    return {}


class TypedSelectField(forms.ChoiceField):
    """A select that gives back the option's original JSON value (a number stays a number)."""

    def __init__(self, *, originals: list, **kwargs) -> None:
        super().__init__(**kwargs)
        self.originals = {str(o): o for o in originals}

    def clean(self, value):
        cleaned = super().clean(value)
        if cleaned in self.empty_values:
            return None
        return self.originals.get(cleaned, cleaned)


class TemplateTextField(forms.CharField):
    """Text for a prompt input: may be cleared, but a value the client did not send keeps the default."""

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, strip=True, **kwargs)

    blank_keeps_default = False  # a panel with a placeholder: an empty box keeps the prompt's own text

    def clean(self, value):
        if getattr(self, "omitted", False):
            return None
        cleaned = super().clean(value)
        return None if cleaned == "" and self.blank_keeps_default else cleaned


class StepNumberField(forms.FloatField):
    """A number within [min, max] on the `step` grid; an int prompt value stays an int."""

    def __init__(self, *, integer: bool, step: float | None, base: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.integer, self.step, self.base = integer, step, base

    def clean(self, value):
        number = super().clean(value)
        if number is None:
            return None
        if self.step and not on_step_grid(number, self.step, self.base):
            lower, upper = nearest_on_grid(number, self.step, self.base)
            raise forms.ValidationError(
                _("Choose %(lower)s or %(upper)s: this value goes up in steps of %(step)s."),
                code="step",
                params={"lower": lower, "upper": upper, "step": self.step},
            )
        if self.integer:
            if not float(number).is_integer():
                raise forms.ValidationError(_("Enter a whole number."), code="integer")
            return int(number)
        return number


def nearest_on_grid(value: float, step: float, base: float) -> tuple[str, str]:
    """The allowed values just below and above `value`, written as a visitor types them."""
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    below = base + math.floor((value - base) / step) * step
    return f"{below:.{digits}f}", f"{below + step:.{digits}f}"


def _number_field(panel: dict, current: object, common: dict) -> forms.Field:
    lo, hi, step = panel.get("min"), panel.get("max"), panel.get("step")
    integer = isinstance(current, int) and not isinstance(current, bool) and not isinstance(step, float)
    attrs = {"step": step if step else (1 if integer else "any")}
    if lo is not None:
        attrs["min"] = lo
    if hi is not None:
        attrs["max"] = hi
    if lo is not None and hi is not None:
        attrs["data-slider"] = ""  # the page adds a slider beside the typed entry (see _field.html)
    widget = forms.NumberInput(attrs=attrs)
    return StepNumberField(
        integer=integer,
        step=step,
        base=lo if lo is not None else 0,
        min_value=lo,
        max_value=hi,
        initial=current,
        widget=widget,
        **common,
    )


def unresolved_options(current: object) -> list:
    """What a select offers when its source cannot be read: only the prompt's own value."""
    return [current] if current not in (None, "") else []


def resolve_options(panel: dict, current: object, resolver: OptionsResolver | None) -> list:
    """Options named by a source (a node class with a COMBO input); the prompt's value when unreachable.

    A form must render even when every GPU backend is down, so any failure falls back quietly
    (the field's help text says so) instead of breaking the page.
    """
    if resolver is not None:
        try:
            resolved = resolver(panel)
        except Exception:
            logger.warning("options source %s unavailable for %s", panel.get("options"), field_name(panel))
            resolved = []
        if resolved:
            if current not in (None, "") and current not in resolved:
                resolved = [current, *resolved]
            return resolved
    return unresolved_options(current)
