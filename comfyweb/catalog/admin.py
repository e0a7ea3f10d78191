"""Operators' admin for workflow templates: paste or import, validate, preview, check backends."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog.backends_check import report_for_backends
from comfyweb.catalog.forms import build_template_form
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.services import import_templates


class ImportForm(forms.Form):
    file = forms.FileField(label=_("workflows JSON file"), help_text=_("A JSON list of templates, as in workflows/."))


class WorkflowTemplateForm(forms.ModelForm):
    publish_anyway = forms.BooleanField(
        required=False,
        label=_("Publish despite backend problems"),
        help_text=_("The backend check below found problems; tick to enable the template anyway."),
    )

    class Meta:
        model = WorkflowTemplate
        fields = ["title", "slug", "description", "cover", "prompt", "params", "enabled", "ordering"]

    def clean(self):
        cleaned = super().clean()
        prompt = cleaned.get("prompt")
        if prompt and cleaned.get("enabled") and not cleaned.get("publish_anyway"):
            problems = [p for r in report_for_backends(prompt, configured_backends()) for p in r.problems]
            if problems:
                raise ValidationError([_("A GPU backend cannot run this template:"), *problems[:20]])
        return cleaned


def configured_backends() -> list[tuple[str, str, str, str]]:
    """(name, url, kind, token) of every enabled backend, from the jobs area when it is installed."""
    try:
        from comfyweb.jobs.backends import active_backends
    except ImportError:
        return []
    return [(b.name, b.url, b.kind, b.token) for b in active_backends()]


@admin.register(WorkflowTemplate)
class WorkflowTemplateAdmin(admin.ModelAdmin):
    form = WorkflowTemplateForm
    list_display = ["title", "slug", "enabled", "ordering", "version", "updated_at"]
    list_editable = ["enabled", "ordering"]
    search_fields = ["title", "slug", "description"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["version", "preview_link", "backend_report"]
    change_list_template = "admin/catalog/workflowtemplate/change_list.html"

    def get_urls(self):
        own = [
            path("import/", self.admin_site.admin_view(self.import_view), name="catalog_workflowtemplate_import"),
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="catalog_workflowtemplate_preview",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description=_("End-user form"))
    def preview_link(self, obj: WorkflowTemplate) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:catalog_workflowtemplate_preview", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Preview the form"))

    @admin.display(description=_("Backend check"))
    def backend_report(self, obj: WorkflowTemplate) -> str:
        if not obj.pk:
            return "—"
        reports = report_for_backends(obj.prompt, configured_backends())
        if not reports:
            return _("No GPU backend is configured.")
        rows = []
        for report in reports:
            if not report.reachable:
                rows.append((report.backend, _("unreachable: %(e)s") % {"e": report.error}))
            elif report.problems:
                rows.append((report.backend, "; ".join(report.problems)))
            else:
                rows.append((report.backend, _("OK: every node, model and value is available")))
        return format_html("<ul>{}</ul>", format_html_join("", "<li><b>{}</b>: {}</li>", rows))

    def import_view(self, request):
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                data = json.loads(form.cleaned_data["file"].read().decode("utf-8"))
                saved = import_templates(data)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                form.add_error("file", _("Not a JSON file: %(e)s") % {"e": exc})
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("file", message)
            else:
                self.message_user(request, _("Imported %(n)d template(s).") % {"n": len(saved)}, messages.SUCCESS)
                return redirect("admin:catalog_workflowtemplate_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": _("Import workflow templates"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/catalog/workflowtemplate/import.html", context)

    def preview_view(self, request, pk: int):
        template = get_object_or_404(WorkflowTemplate, pk=pk)
        context = {
            **self.admin_site.each_context(request),
            "form": build_template_form(template),
            "template_obj": template,
            "title": _("Preview: %(t)s") % {"t": template.title},
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/catalog/workflowtemplate/preview.html", context)
