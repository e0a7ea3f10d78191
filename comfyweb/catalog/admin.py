"""Operators' admin for workflow templates: paste or import, validate, preview, check backends, try."""

from __future__ import annotations

import json
from types import SimpleNamespace

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog.backends_check import (
    BackendReport,
    backends_options_resolver,
    configured_backends,
    report_for_backends,
)
from comfyweb.catalog.forms import build_template_form
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import validate_template
from comfyweb.catalog.services import import_templates
from comfyweb.catalog.translations import TranslationsFormMixin
from comfyweb.comfy.prompt import InvalidPrompt, normalize_prompt

MAX_SHOWN_PROBLEMS = 20
BACKEND_PROBLEMS = _("A GPU backend cannot run this template. Fix it, or tick “Publish despite backend problems”:")


class ImportForm(forms.Form):
    file = forms.FileField(label=_("workflows JSON file"), help_text=_("A JSON list of templates, as in workflows/."))


class WorkflowTemplateForm(TranslationsFormMixin, forms.ModelForm):
    """The template form: pasted JSON is checked, and publishing is checked against the GPU backends."""

    publish_anyway = forms.BooleanField(
        required=False,
        label=_("Publish despite backend problems"),
        help_text=_("When the backend check finds problems, tick this to enable the template anyway."),
    )

    class Meta:
        model = WorkflowTemplate
        fields = [
            "title", "slug", "description", "translations", "notes", "cover", "prompt", "params", "enabled",
            "live_previews", "ordering",
        ]  # fmt: skip

    def clean_prompt(self):
        """Accept a bare "Save (API)" export or one wrapped as {"prompt": {...}}."""
        prompt = self.cleaned_data.get("prompt")
        if isinstance(prompt, dict) and isinstance(prompt.get("prompt"), dict):
            try:
                return normalize_prompt(prompt)
            except InvalidPrompt:
                return prompt
        return prompt

    def clean(self):
        cleaned = super().clean()
        if self.needs_backend_check(cleaned) and not cleaned.get("publish_anyway"):
            prompt = cleaned.get("prompt", self.instance.prompt)
            params = cleaned.get("params", self.instance.params)
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

    def needs_backend_check(self, cleaned: dict) -> bool:
        """Check when a template gets published or what it runs changes while published."""
        enabled = cleaned.get("enabled", self.instance.enabled)
        if not enabled:
            return False
        if self.instance.pk is None:
            return True
        return bool({"enabled", "prompt", "params"} & set(self.changed_data))


@admin.register(WorkflowTemplate)
class WorkflowTemplateAdmin(admin.ModelAdmin):
    form = WorkflowTemplateForm
    list_display = ["title", "slug", "enabled", "ordering", "version", "updated_at"]
    list_editable = ["enabled", "ordering"]
    search_fields = ["title", "slug", "description", "notes"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["version", "backend_report", "form_preview"]
    change_list_template = "admin/catalog/workflowtemplate/change_list.html"
    change_form_template = "admin/catalog/workflowtemplate/change_form.html"
    can_test_run = False  # see create_test_job

    def get_changelist_form(self, request, **kwargs):
        """Enabling a template from the list goes through the same backend check as its page."""
        kwargs.setdefault("form", WorkflowTemplateForm)
        return super().get_changelist_form(request, **kwargs)

    def get_urls(self):
        own = [
            path("import/", self.admin_site.admin_view(self.import_view), name="catalog_workflowtemplate_import"),
            path(
                "preview/",
                self.admin_site.admin_view(self.live_preview_view),
                name="catalog_workflowtemplate_live_preview",
            ),
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="catalog_workflowtemplate_preview",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description=_("End-user form"))
    def form_preview(self, obj: WorkflowTemplate) -> str:
        if not obj.pk:
            return _("Save the template (or use “Preview unsaved changes”) to see its form.")
        url = reverse("admin:catalog_workflowtemplate_preview", args=[obj.pk])
        form = build_template_form(obj, options_resolver=backends_options_resolver())
        return format_html(
            '<div class="template-preview">{}</div><p><a href="{}">{}</a></p>',
            form.as_div(),
            url,
            _("Open the preview and try it with your own values"),
        )

    @admin.display(description=_("Backend check"))
    def backend_report(self, obj: WorkflowTemplate) -> str:
        if not obj.pk:
            return "—"
        return render_reports(report_for_backends(obj.prompt, configured_backends(), obj.params))

    def create_test_job(self, request, template: WorkflowTemplate, values: dict):
        """A test run of `template`; running jobs is the jobs app's, whose admin for templates overrides this."""
        return None

    def import_view(self, request):
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                data = json.loads(form.cleaned_data["file"].read().decode("utf-8-sig"))
                saved = import_templates(data)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                form.add_error("file", _("Not a JSON file: %(e)s") % {"e": exc})
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("file", message)
            else:
                self.message_user(
                    request,
                    _("Imported %(n)d template(s): %(slugs)s")
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

    def preview_view(self, request, pk: int):
        """The saved template's end-user form; submitting it creates a test job ("try it")."""
        template = get_object_or_404(WorkflowTemplate, pk=pk)
        resolver = backends_options_resolver()
        if request.method == "POST":
            form = build_template_form(template, data=request.POST, files=request.FILES, options_resolver=resolver)
            if form.is_valid():
                job = self.create_test_job(request, template, form.cleaned_data)
                if job is not None:
                    return redirect("campaigns:job", job_id=job.id)
        else:
            form = build_template_form(template, options_resolver=resolver)
        return self.render_preview(request, template.title, form, problems=[], can_try=self.can_test_run)

    def live_preview_view(self, request):
        """The form that the prompt and params being edited (not yet saved) would give visitors."""
        problems: list[str] = []
        form = None
        if request.method == "POST":
            try:
                prompt = json.loads(request.POST.get("prompt") or "null")
                params = json.loads(request.POST.get("params") or "[]")
            except json.JSONDecodeError as exc:
                problems.append(_("Not valid JSON: %(e)s") % {"e": exc})
            else:
                if isinstance(prompt, dict) and isinstance(prompt.get("prompt"), dict):
                    prompt = prompt["prompt"]
                problems = [str(p) for p in validate_template(prompt, params)]
                if not problems:
                    draft = SimpleNamespace(prompt=prompt, params=params)
                    form = build_template_form(draft, options_resolver=backends_options_resolver())
        else:
            problems.append(_("Use “Preview unsaved changes” on a template's page."))
        title = request.POST.get("title") or _("unsaved template")
        return self.render_preview(request, title, form, problems=problems, can_try=False)

    def render_preview(self, request, title: str, form, *, problems: list[str], can_try: bool):
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "problems": problems,
            "can_try": can_try,
            "title": _("Preview: %(t)s") % {"t": title},
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/catalog/workflowtemplate/preview.html", context)


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
