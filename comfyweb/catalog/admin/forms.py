"""The template admin's forms: the change form (its JSON checked, publishing checked against the GPU
backends) and the import form."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog import drafts, revisions
from comfyweb.catalog.backends_check import configured_backends, report_for_backends
from comfyweb.catalog.editor import ParamsEditorWidget, parse_json
from comfyweb.catalog.importing import default_object_info
from comfyweb.catalog.models import CONTENT_FIELDS, WorkflowTemplate
from comfyweb.catalog.params import title_clashes, validate_template
from comfyweb.catalog.translations import TranslationsFormMixin
from comfyweb.comfy.prompt import InvalidPrompt, normalize_prompt
from comfyweb.comfy.workflow import WorkflowConversionError, convert_workflow, is_ui_workflow

MAX_SHOWN_PROBLEMS = 20
BACKEND_PROBLEMS = _("A GPU backend cannot run this template. Fix it, or tick “Publish despite backend problems”:")


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("file"),
        help_text=_(
            "A workflows JSON file (a list of templates, as in workflows/), or anything ComfyUI saves: a workflow "
            "(Save), an API prompt (Save (API)), or a PNG or WebP picture with the workflow inside."
        ),
    )


def unwrap_prompt(prompt: object) -> object:
    """A bare "Save (API)" export, or one wrapped as {"prompt": {...}}."""
    if isinstance(prompt, dict) and isinstance(prompt.get("prompt"), dict):
        try:
            return normalize_prompt(prompt)
        except InvalidPrompt:
            return prompt
    return prompt


def editor_object_info() -> dict:
    """The /object_info the editor proposes fields with (a configured backend's, else the recorded one)."""
    try:
        return default_object_info()
    except Exception:  # an editor without proposals still edits
        return {}


def preview_url(template: WorkflowTemplate | None) -> str:
    """Where the editor's live preview posts: the template's own preview, or the one for a new template."""
    if template is not None and template.pk is not None:
        return reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    return reverse("admin:catalog_workflowtemplate_live_preview")


class LivePreviewsSelect(forms.NullBooleanSelect):
    """Whether visitors watch the picture form, in words (not Django's "Unknown / Yes / No")."""

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        default = _("on") if settings.JOB_LIVE_PREVIEWS else _("off")
        self.choices = [
            ("unknown", format_lazy(_("As the site sets it (now: {})"), default)),
            ("true", _("Show the picture forming while it is made")),
            ("false", _("Show only the finished pictures")),
        ]


class WorkflowTemplateForm(TranslationsFormMixin, forms.ModelForm):
    """The template form: pasted JSON is checked, and publishing is checked against the GPU backends."""

    publish_anyway = forms.BooleanField(
        required=False,
        label=_("Publish despite backend problems"),
        help_text=_("When the backend check finds problems, tick this to publish the template anyway."),
    )
    revision = forms.CharField(required=False, widget=forms.HiddenInput)  # see catalog.revisions
    publishing = False  # the admin's get_form sets it when the operator pressed "Publish"

    class Meta:
        model = WorkflowTemplate
        fields = [
            "title", "slug", "description", "translations", "notes", "cover", "prompt", "params", "enabled",
            "live_previews", "requires_consent", "ordering",
        ]  # fmt: skip
        widgets = {"params": ParamsEditorWidget, "live_previews": LivePreviewsSelect}
        labels = {"params": _("Fields visitors fill")}
        help_texts = {
            "params": _(
                "Tick the fields visitors may change, give them titles and help, order them and group them into "
                "steps. Everything else keeps the workflow's own value."
            ),
            "enabled": _("Untick to take a published template off the site; “Publish” puts it back."),
            "live_previews": _("While a picture is being made, visitors may watch it form, step by step."),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        widget = self.fields["params"].widget if "params" in self.fields else None
        if isinstance(widget, ParamsEditorWidget):
            if self.is_bound:
                prompt, _problem = parse_json(self.data.get(self.add_prefix("prompt")), None)
            else:
                prompt = self.instance.prompt
            widget.prompt = unwrap_prompt(prompt)
            widget.object_info = editor_object_info()
            widget.urls = {
                "editor": reverse("admin:catalog_workflowtemplate_editor"),
                "preview": preview_url(self.instance),
            }
        if self.instance.pk is not None and not self.is_bound:
            self.initial["revision"] = revisions.revision_token(revisions.editing_state(self.instance.pk))
        if "prompt" in self.fields:
            self.fields["prompt"].widget.attrs.update({"rows": 12, "spellcheck": "false"})
        if "slug" in self.fields:  # filled from the title (ASCII, pinyin for Chinese) by admin-template-slug.js
            self.fields["slug"].widget.attrs.update(
                {"data-slug-url": reverse("admin:catalog_workflowtemplate_slug"), "data-pk": self.instance.pk or ""}
            )

    def clean_prompt(self):
        """Accept a bare "Save (API)" export, one wrapped as {"prompt": {...}}, or a UI workflow (converted)."""
        prompt = unwrap_prompt(self.cleaned_data.get("prompt"))
        if is_ui_workflow(prompt):
            try:
                return convert_workflow(prompt, editor_object_info()).prompt
            except WorkflowConversionError as exc:
                raise ValidationError(str(exc)) from exc
        return prompt

    def clean_params(self):
        """Two visible fields with one title are refused: a visitor could not tell which is which."""
        params = self.cleaned_data.get("params")
        clashes = title_clashes(params) if isinstance(params, list) else []
        if clashes:
            raise ValidationError(clashes, code="same_title")
        return params

    def clean(self):
        cleaned = super().clean()
        self.check_revision(cleaned.get("revision") or "")
        if self.needs_backend_check(cleaned) and not cleaned.get("publish_anyway"):
            prompt, params = self.content_to_check(cleaned)
            if not validate_template(prompt, params):
                problems = [
                    f"{r.backend}: {p}"
                    for r in report_for_backends(prompt, configured_backends(), params)
                    for p in r.problems
                ]
                if problems:
                    raise ValidationError([BACKEND_PROBLEMS, *problems[:MAX_SHOWN_PROBLEMS]], code="backend_problems")
        return cleaned

    def check_revision(self, token: str) -> None:
        """Refuse a save based on an older state of the template than the one saved now, saying what the
        other operator changed. The form then carries the current revision: saving again keeps this one."""
        if self.instance.pk is None or not token:
            return
        base = revisions.read_revision(token)
        current = revisions.editing_state(self.instance.pk)
        if base is None or base == current:
            return
        self.data = self.data.copy()
        self.data[self.add_prefix("revision")] = revisions.revision_token(current)
        raise ValidationError(
            [
                _("Someone else saved this template after you opened it, so your changes were not saved. They:"),
                *(f"• {change}" for change in revisions.changes_between(base, current)),
                _(
                    "Everything you typed is still below. Compare it with their changes, then save again to keep "
                    "yours (it replaces theirs), or reload the page to start from theirs."
                ),
            ],
            code="stale",
        )

    def edits_content(self) -> bool:
        return any(name in self.fields for name in CONTENT_FIELDS)

    def needs_backend_check(self, cleaned: dict) -> bool:
        """Check what is being published, and a published template being switched on."""
        if self.publishing:
            return True
        switched_on = "enabled" in self.changed_data and cleaned.get("enabled")
        return bool(switched_on and self.instance.pk is not None and self.instance.published_at is not None)

    def content_to_check(self, cleaned: dict) -> tuple[object, object]:
        if self.publishing:
            return cleaned.get("prompt", self.instance.prompt), cleaned.get("params", self.instance.params)
        published = drafts.published_content(self.instance) or {}
        return published.get("prompt", self.instance.prompt), published.get("params", self.instance.params)
