"""Operators' admin for workflow templates: import, edit as a draft, preview live, test, publish, versions.

The change form edits the template's draft (catalog.drafts): saving keeps it, "Publish" makes it what
visitors see. Its params are edited as cards (catalog.editor) beside a live preview drawn like the
visitor page (catalog.preview); the preview's form runs a test job, which the jobs app provides
(jobs/admin/test_runs.py extends this admin).
"""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog import drafts
from comfyweb.catalog.admin_slugs import slug_preview_view
from comfyweb.catalog.backends_check import (
    BackendReport,
    backends_options_resolver,
    configured_backends,
    report_for_backends,
)
from comfyweb.catalog.editor import ParamsEditorWidget, apply_operation, parse_json, render_editor
from comfyweb.catalog.importing import default_object_info
from comfyweb.catalog.models import CONTENT_FIELDS, TemplateVersion, WorkflowTemplate
from comfyweb.catalog.params import validate_template
from comfyweb.catalog.preview import Draft, framable_by_this_site, visitor_preview
from comfyweb.catalog.services import import_upload
from comfyweb.catalog.translations import (
    TextRow,
    TranslationsFormMixin,
    TranslationsWidget,
    content_language,
    params_rows,
)
from comfyweb.catalog.ui_workflow import WorkflowConversionError, convert_workflow, is_ui_workflow
from comfyweb.comfy.prompt import InvalidPrompt, normalize_prompt

MAX_SHOWN_PROBLEMS = 20
BACKEND_PROBLEMS = _("A GPU backend cannot run this template. Fix it, or tick “Publish despite backend problems”:")
# What the change form saves at once (the rest, CONTENT_FIELDS, goes into the draft).
SETTINGS_FIELDS = ("slug", "notes", "enabled", "live_previews", "requires_consent", "ordering")


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


class WorkflowTemplateForm(TranslationsFormMixin, forms.ModelForm):
    """The template form: pasted JSON is checked, and publishing is checked against the GPU backends."""

    publish_anyway = forms.BooleanField(
        required=False,
        label=_("Publish despite backend problems"),
        help_text=_("When the backend check finds problems, tick this to publish the template anyway."),
    )
    publishing = False  # the admin sets it when the operator pressed "Publish"

    class Meta:
        model = WorkflowTemplate
        fields = [
            "title", "slug", "description", "translations", "notes", "cover", "prompt", "params", "enabled",
            "live_previews", "requires_consent", "ordering",
        ]  # fmt: skip
        widgets = {"params": ParamsEditorWidget}
        labels = {"params": _("Fields visitors fill")}
        help_texts = {
            "params": _(
                "Tick the fields visitors may change, give them titles and help, order them and group them into "
                "steps. Everything else keeps the workflow's own value."
            ),
            "enabled": _("Untick to take a published template off the site; “Publish” puts it back."),
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

    def clean(self):
        cleaned = super().clean()
        if self.needs_backend_check(cleaned) and not cleaned.get("publish_anyway"):
            prompt, params = self.content_to_check(cleaned)
            if not validate_template(prompt, params):
                problems = [
                    f"{r.backend}: {p}"
                    for r in report_for_backends(prompt, configured_backends(), params)
                    for p in r.problems
                ]
                if problems:
                    raise ValidationError(
                        [
                            BACKEND_PROBLEMS,
                            *problems[:MAX_SHOWN_PROBLEMS],
                        ],
                        code="backend_problems",
                    )
        return cleaned

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


def editor_object_info() -> dict:
    """The /object_info the editor proposes fields with (a configured backend's, else the recorded one)."""
    try:
        return default_object_info()
    except Exception:  # an editor without proposals still edits
        return {}


def preview_url(template: WorkflowTemplate | None) -> str:
    if template is not None and template.pk is not None:
        return reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    return reverse("admin:catalog_workflowtemplate_live_preview")


def when(moment) -> str:
    return date_format(localtime(moment), "DATETIME_FORMAT") if moment else "—"


def status_text(template: WorkflowTemplate) -> str:
    """Where a template stands: what visitors see, and whether a draft waits."""
    draft = getattr(template, "draft", None)
    if draft is None and template.pk is not None and not hasattr(template, "draft"):
        draft = drafts.draft_of(template)
    if template.published_at is None:
        return gettext("Draft, not published yet: visitors do not see this template.")
    if not template.enabled:
        if draft is not None:
            return gettext(
                "Switched off: visitors do not see this template. You are editing a draft saved %(saved)s; "
                "“Publish” shows it to them."
            ) % {"saved": when(draft.updated_at)}
        return gettext(
            "Switched off: visitors do not see this template. “Publish” shows them version %(n)d (published %(when)s)."
        ) % {"n": template.version, "when": when(template.published_at)}
    if draft is not None:
        return gettext(
            "Visitors see version %(n)d (published %(when)s). You are editing a draft saved %(saved)s: "
            "publish it to show it to them."
        ) % {"n": template.version, "when": when(template.published_at), "saved": when(draft.updated_at)}
    return gettext(
        "Visitors see version %(n)d (published %(when)s). Changes you save become a draft until you publish."
    ) % {"n": template.version, "when": when(template.published_at)}


def draft_from_post(data, template: WorkflowTemplate | None) -> tuple[Draft, list[str]]:
    """The content posted by the editor (or the preview's test-run form) and why it cannot be read."""
    problems: list[str] = []
    prompt, problem = parse_json(data.get("prompt"), None)
    if problem:
        problems.append(gettext("Not valid JSON: %(e)s") % {"e": problem})
    params, problem = parse_json(data.get("params"), [])
    if problem:
        problems.append(gettext("Not valid JSON: %(e)s") % {"e": problem})
    prompt = unwrap_prompt(prompt)
    widget = TranslationsWidget()
    widget.rows = [TextRow(("title",), "", ""), TextRow(("description",), "", "")]
    widget.rows += params_rows(params if isinstance(params, list) else [])
    translations, _problem = parse_json(widget.value_from_datadict(data, {}, "translations"), {})
    draft = Draft(
        title=str(data.get("title") or (template.title if template else "")),
        description=str(data.get("description") or ""),
        cover=str(data.get("cover") or ""),
        prompt=prompt if isinstance(prompt, dict) else {},
        params=params if isinstance(params, list) else [],
        translations=translations if isinstance(translations, dict) else {},
    )
    if not problems and prompt is None:
        problems.append(gettext("The prompt is empty: paste or import a ComfyUI workflow first."))
    return draft, problems


@admin.register(WorkflowTemplate)
class WorkflowTemplateAdmin(admin.ModelAdmin):
    form = WorkflowTemplateForm
    list_display = ["title", "slug", "status", "enabled", "ordering", "version", "updated_at"]
    list_editable = ["enabled", "ordering"]
    search_fields = ["title", "slug", "description", "notes"]
    readonly_fields = ["version", "backend_report"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "description", "cover"]}),
        (None, {"fields": ["params"]}),
        (_("Workflow (ComfyUI API prompt)"), {"fields": ["prompt"], "classes": ["collapse"]}),
        (_("Translations"), {"fields": ["translations"], "classes": ["collapse"]}),
        (_("Backend check"), {"fields": ["backend_report"]}),
        (_("Settings"), {"fields": ["enabled", "live_previews", "requires_consent", "ordering", "notes", "version"]}),
        (_("Publishing"), {"fields": ["publish_anyway"]}),
    ]
    change_list_template = "admin/catalog/workflowtemplate/change_list.html"
    change_form_template = "admin/catalog/workflowtemplate/change_form.html"
    can_test_run = False  # see create_test_job

    class Media:
        js = ["js/admin-template-slug.js"]

    def get_fieldsets(self, request, obj=None):
        """A new template starts from its workflow: the prompt box comes first, open."""
        if obj is not None:
            return self.fieldsets
        workflow = (
            _("Workflow (ComfyUI API prompt)"),
            {
                "fields": ["prompt"],
                "description": _(
                    "Paste what ComfyUI saves (“Save” or “Save (API)”), or use “Import workflows file” on the list "
                    "of templates to start from a file or a PNG."
                ),
            },
        )
        return [
            self.fieldsets[0],
            workflow,
            self.fieldsets[1],
            self.fieldsets[3],
            (_("Settings"), {"fields": ["enabled", "live_previews", "requires_consent", "ordering", "notes"]}),
            self.fieldsets[6],
        ]

    def get_changelist_form(self, request, **kwargs):
        """Enabling a template from the list goes through the same backend check as its page."""
        kwargs.setdefault("form", WorkflowTemplateForm)
        return super().get_changelist_form(request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"publishing": "_publish" in request.POST})

    def get_object(self, request, object_id, from_field=None):
        """The template as the editor sees it: with its draft's content when there is one."""
        template = super().get_object(request, object_id, from_field)
        return drafts.for_editing(template) if template is not None else None

    def get_urls(self):
        def view(function, name, route):
            return path(route, self.admin_site.admin_view(function), name=f"catalog_workflowtemplate_{name}")

        own = [
            view(self.import_view, "import", "import/"),
            view(slug_preview_view, "slug", "slug/"),
            view(self.preview_view, "live_preview", "preview/"),
            view(self.editor_view, "editor", "editor/"),
            view(self.preview_view, "preview", "<int:pk>/preview/"),
            view(self.discard_view, "discard", "<int:pk>/discard/"),
            view(self.versions_view, "versions", "<int:pk>/versions/"),
            view(self.version_view, "version", "<int:pk>/versions/<int:number>/"),
            view(self.restore_view, "restore", "<int:pk>/versions/<int:number>/restore/"),
        ]
        return own + super().get_urls()

    @admin.display(description=_("status"))
    def status(self, obj: WorkflowTemplate) -> str:
        if obj.published_at is None:
            return gettext("draft")
        has_draft = obj.versions.filter(published_at__isnull=True).exists()
        shown = gettext("version %(n)d") % {"n": obj.version}
        return gettext("%(version)s + draft") % {"version": shown} if has_draft else shown

    @admin.display(description=_("Backend check"))
    def backend_report(self, obj: WorkflowTemplate) -> str:
        if not obj.pk:
            return "—"
        return render_reports(report_for_backends(obj.prompt, configured_backends(), obj.params))

    # ---- saving: a draft, published on request ---------------------------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        if not form.edits_content():  # the change list: enabled, ordering
            obj.save(update_fields=[*(name for name in form.fields if name in SETTINGS_FIELDS), "updated_at"])
            return
        content = drafts.content_of(obj)
        if not change:
            obj.version, obj.published_at = 0, None
            obj.save(as_draft=True)
        else:
            obj.save(update_fields=[*SETTINGS_FIELDS, "updated_at"])
        obj.draft = drafts.save_draft(obj, content, request.user)
        if form.publishing:
            drafts.publish(obj, request.user)

    def response_add(self, request, obj, post_url_continue=None):
        if IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        return self.back_to_editor(request, obj)

    def response_change(self, request, obj):
        if IS_POPUP_VAR not in request.POST and ("_publish" in request.POST or "_continue" in request.POST):
            return self.back_to_editor(request, obj)
        return super().response_change(request, obj)

    def back_to_editor(self, request, obj):
        if "_publish" in request.POST:
            message = gettext("Published: visitors now see version %(n)d of “%(title)s”.")
        elif obj.published_at is None:
            message = gettext("Draft of “%(title)s” saved. Visitors do not see it until you publish it.")
        elif getattr(obj, "draft", None) is not None:
            message = gettext("Draft of “%(title)s” saved. Visitors still see version %(n)d until you publish.")
        else:
            message = gettext("Saved. “%(title)s” is as published (version %(n)d): there is no draft.")
        self.message_user(request, message % {"n": obj.version, "title": obj.title}, messages.SUCCESS)
        return redirect("admin:catalog_workflowtemplate_change", obj.pk)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        template = obj if obj is not None else WorkflowTemplate(published_at=None)
        context["studio"] = {
            "status": status_text(template)
            if obj is not None
            else gettext("A new template starts as a draft: visitors see it once you publish it."),
            "is_draft": template.published_at is None or getattr(template, "draft", None) is not None,
            "can_discard": obj is not None and obj.published_at is not None and getattr(obj, "draft", None),
            "discard_url": reverse("admin:catalog_workflowtemplate_discard", args=[obj.pk]) if obj else "",
            "versions_url": reverse("admin:catalog_workflowtemplate_versions", args=[obj.pk]) if obj else "",
            "preview_url": preview_url(obj),
        }
        return super().render_change_form(request, context, add, change, form_url, obj)

    def discard_view(self, request, pk: int):
        template = get_object_or_404(WorkflowTemplate, pk=pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        if drafts.discard_draft(template):
            self.message_user(
                request,
                gettext("Draft discarded: the editor shows version %(n)d, which visitors see.")
                % {"n": template.version},
                messages.SUCCESS,
            )
        return redirect("admin:catalog_workflowtemplate_change", template.pk)

    # ---- versions --------------------------------------------------------------------------------------

    def versions_view(self, request, pk: int):
        template = get_object_or_404(WorkflowTemplate, pk=pk)
        if not self.has_view_or_change_permission(request, template):
            raise PermissionDenied
        versions = list(template.versions.select_related("created_by", "published_by"))
        versions.sort(key=lambda v: (v.published_at is not None, -(v.number or 0)))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Versions of “%(title)s”") % {"title": template.title},
            "opts": self.model._meta,
            "original": template,
            "versions": versions,
            "status": status_text(template),
        }
        return TemplateResponse(request, "admin/catalog/workflowtemplate/versions.html", context)

    def version_view(self, request, pk: int, number: int):
        template = get_object_or_404(WorkflowTemplate, pk=pk)
        if not self.has_view_or_change_permission(request, template):
            raise PermissionDenied
        version = get_object_or_404(TemplateVersion, template=template, number=number)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Version %(n)d of “%(title)s”") % {"n": number, "title": template.title},
            "opts": self.model._meta,
            "original": template,
            "version": version,
            "is_current": template.published_at is not None and template.version == number,
            "params_json": json.dumps(version.params, ensure_ascii=False, indent=2),
            "prompt_json": json.dumps(version.prompt, ensure_ascii=False, indent=2),
            "translations_json": json.dumps(version.translations, ensure_ascii=False, indent=2),
            "preview_url": preview_url(template) + f"?version={number}",
            "can_restore": self.has_change_permission(request, template),
        }
        return TemplateResponse(request, "admin/catalog/workflowtemplate/version.html", context)

    def restore_view(self, request, pk: int, number: int):
        template = get_object_or_404(WorkflowTemplate, pk=pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        version = get_object_or_404(TemplateVersion, template=template, number=number)
        if drafts.restore(template, version, request.user) is None:
            message = gettext("Version %(n)d is what visitors see already: there is no draft.")
        else:
            message = gettext("Version %(n)d is now the draft. Check it, then publish it to show it to visitors.")
        self.message_user(request, message % {"n": number}, messages.SUCCESS)
        return redirect("admin:catalog_workflowtemplate_change", template.pk)

    # ---- the editor and its preview ----------------------------------------------------------------------

    def editor_view(self, request):
        """The editor's cards drawn again for the posted prompt and params, after one change of structure."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        prompt, prompt_problem = parse_json(request.POST.get("prompt"), {})
        params, params_problem = parse_json(request.POST.get("params"), [])
        prompt = unwrap_prompt(prompt)
        problems = [
            gettext("%(what)s is not valid JSON: %(e)s") % {"what": what, "e": problem}
            for what, problem in ((gettext("The prompt"), prompt_problem), (gettext("The params"), params_problem))
            if problem
        ]
        info = editor_object_info()
        answer: dict = {}
        if is_ui_workflow(prompt):  # a workflow pasted as ComfyUI saves it: the prompt box gets its API prompt
            try:
                prompt = convert_workflow(prompt, info).prompt
            except WorkflowConversionError as exc:
                problems.append(str(exc))
            else:
                answer["prompt"] = json.dumps(prompt, ensure_ascii=False, indent=2)
        operation = request.POST.get("operation", "")
        if operation and not problems and isinstance(prompt, dict) and isinstance(params, list):
            apply_operation(
                prompt, params, operation, request.POST.get("name", ""), request.POST.get("value", ""), info
            )
            answer["prompt"] = json.dumps(prompt, ensure_ascii=False, indent=2)
        if not params_problem:
            answer["params"] = json.dumps(params, ensure_ascii=False, indent=2)
        answer["html"] = render_editor(prompt, params, info, problems=problems)
        return JsonResponse(answer)

    def preview_view(self, request, pk: int | None = None):
        """The visitor page of a template being edited (the posted, maybe unsaved, content; else its draft,
        or `?version=`), in the visitor pages' own look; its form runs a test job of what it shows.

        It speaks the content language (the texts being edited), or the site language `_language` names."""
        language = request.POST.get("_language") or request.GET.get("language") or content_language()
        if language not in {code.lower() for code, _name in settings.LANGUAGES}:
            language = content_language()
        with translation.override(language):
            response = self._preview(request, pk, language)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        return response

    def _preview(self, request, pk: int | None, language: str):
        template = get_object_or_404(WorkflowTemplate, pk=pk) if pk is not None else None
        allowed = (
            self.has_view_or_change_permission(request, template)
            if template is not None
            else self.has_add_permission(request) or self.has_change_permission(request)
        )
        if not allowed:
            raise PermissionDenied
        problems: list[str] = []
        banner = gettext("Preview: this is what visitors would see. It is not published.")
        if request.method == "POST" and "prompt" in request.POST:
            draft, problems = draft_from_post(request.POST, template)
        elif template is not None and request.GET.get("version", "").isdigit():
            version = get_object_or_404(TemplateVersion, template=template, number=int(request.GET["version"]))
            draft = Draft(**drafts.content_of(version))
            banner = gettext("Preview of version %(n)d.") % {"n": version.number}
        elif template is not None:
            draft = Draft(**drafts.editing_content(template))
        else:
            draft = Draft()
            problems.append(gettext("Use “Preview unsaved changes” on a template's page."))
        if not problems:
            problems = [str(p) for p in validate_template(draft.prompt, draft.params)]
        test_run = self.test_run_context(request, template)
        preview = visitor_preview()
        resolver = backends_options_resolver()
        form, errors, status, quantity = None, [], 200, 1
        if not problems and request.method == "POST" and "_test_run" in request.POST:
            form = preview.form(draft, data=request.POST, files=request.FILES, options_resolver=resolver)
            quantity = parse_quantity(request.POST.get("quantity"), errors)
            if not test_run["possible"]:
                errors.append(test_run["why_not"])
            elif form.is_valid() and not errors:
                published = drafts.published_content(template)
                content = None if published == draft.content() else draft.content()
                job = self.create_test_job(
                    request,
                    template,
                    form.cleaned_data,
                    content=content,
                    backend=request.POST.get("backend", ""),
                    quantity=quantity,
                )
                if job is not None:
                    if job.batch:
                        return redirect("campaigns:batch", batch_id=job.batch)
                    return redirect("campaigns:job", job_id=job.id)
            status = 400
        elif not problems:
            form = preview.form(draft, options_resolver=resolver)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Preview: %(t)s") % {"t": draft.title or gettext("unsaved template")},
            "opts": self.model._meta,
            "banner": banner,
            "problems": problems,
            "errors": errors,
            "test_run": test_run,
            "can_try": test_run["possible"],
            "draft_fields": [*draft.hidden_fields(), ("_language", language)],
            "quantity": quantity,
            "status": status,
        }
        response = preview.render(request, draft, form, context)
        response.status_code = status
        return framable_by_this_site(response)

    def test_run_context(self, request, template: WorkflowTemplate | None) -> dict:
        """Whether the preview may run a test, where it posts, on which backends."""
        found = {"possible": False, "url": "", "backends": [], "chosen": request.POST.get("backend", ""), "why_not": ""}
        if not self.can_test_run:
            found["why_not"] = gettext("Test runs are not available on this site.")
        elif template is None:
            found["why_not"] = gettext("Save the draft once to run a test of it.")
        elif not self.has_change_permission(request, template):
            found["why_not"] = gettext("Only operators who may change this template run tests of it.")
        else:
            found.update(
                possible=True,
                url=reverse("admin:catalog_workflowtemplate_preview", args=[template.pk]),
                backends=self.test_run_backends(),
            )
        return found

    def test_run_backends(self) -> list[tuple[str, str]]:
        """(value, name) of the GPU backends a test may be run on; the jobs app, which has them, says."""
        return []

    def create_test_job(
        self, request, template: WorkflowTemplate, values: dict, *, content=None, backend: str = "", quantity=1
    ):
        """A test run of `template` (or of `content`, its draft); running jobs is the jobs app's, whose admin
        for templates overrides this."""
        return None

    def import_view(self, request):
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                saved = import_upload(upload.read(), upload.name or "")
            except ValidationError as exc:
                for message in exc.messages[:MAX_SHOWN_PROBLEMS]:
                    form.add_error("file", message)
            else:
                if len(saved) == 1 and not saved[0].enabled:
                    self.message_user(
                        request,
                        gettext(
                            "Imported “%(title)s”. Check the fields proposed for it, try it in the preview, "
                            "then publish it."
                        )
                        % {"title": saved[0].title},
                        messages.SUCCESS,
                    )
                    return redirect("admin:catalog_workflowtemplate_change", saved[0].pk)
                self.message_user(
                    request,
                    gettext("Imported %(n)d template(s): %(slugs)s")
                    % {"n": len(saved), "slugs": ", ".join(t.slug for t in saved)},
                    messages.SUCCESS,
                )
                return redirect("admin:catalog_workflowtemplate_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": _("Import workflow templates"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/catalog/workflowtemplate/import.html", context)


def parse_quantity(value: object, errors: list[str]) -> int:
    """How many images a test run makes (the visitor page's choice; 1 when none is given)."""
    if value in (None, ""):
        return 1
    try:
        quantity = int(str(value))
    except ValueError:
        quantity = 0
    if not 1 <= quantity <= settings.JOB_MAX_QUANTITY:
        errors.append(gettext("Choose how many images to make (1–%(max)d).") % {"max": settings.JOB_MAX_QUANTITY})
        return 1
    return quantity


def render_reports(reports: list[BackendReport]) -> str:
    """The backend check as an HTML list, one line per backend."""
    if not reports:
        return _("No GPU backend is configured.")
    rows = []
    for report in reports:
        if not report.reachable:
            rows.append((report.backend, _("unreachable, could not check: %(e)s") % {"e": report.error}, []))
        elif report.problems:
            rows.append((report.backend, _("%(n)d problem(s):") % {"n": len(report.problems)}, report.problems))
        else:
            rows.append((report.backend, _("OK: every node, model and value is available"), []))
    return format_html(
        '<ul class="backend-report">{}</ul>',
        format_html_join(
            "",
            "<li><b>{}</b>: {}{}</li>",
            (
                (name, summary, format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in found))))
                if found
                else (name, summary, "")
                for name, summary, found in rows
            ),
        ),
    )
