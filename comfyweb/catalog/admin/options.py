"""The template's ModelAdmin: its change form edits the draft (catalog.drafts), "Publish" makes it what
visitors see; its own pages (import, preview, versions…) are the studio views (views.py)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.db.models import Exists, OuterRef
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog import drafts
from comfyweb.catalog.admin.forms import WorkflowTemplateForm, preview_url
from comfyweb.catalog.admin.slugs import slug_preview_view
from comfyweb.catalog.admin.status import gap_message, saved_message, status_text
from comfyweb.catalog.admin.views import StudioViews
from comfyweb.catalog.backends_check import configured_backends, report_for_backends
from comfyweb.catalog.models import TemplateVersion, WorkflowTemplate
from comfyweb.catalog.translations import translation_gaps

# What the change form saves at once (the rest, CONTENT_FIELDS, goes into the draft).
SETTINGS_FIELDS = ("slug", "notes", "enabled", "live_previews", "requires_consent", "ordering")
WORKFLOW = _("Workflow (ComfyUI API prompt)")


@admin.register(WorkflowTemplate)
class WorkflowTemplateAdmin(StudioViews, admin.ModelAdmin):
    form = WorkflowTemplateForm
    list_display = ["title", "slug", "status", "enabled", "ordering", "version", "updated_at"]
    list_editable = ["enabled", "ordering"]
    search_fields = ["title", "slug", "description", "notes"]
    readonly_fields = ["version", "backend_report"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "description", "cover"]}),
        (None, {"fields": ["params"]}),
        (WORKFLOW, {"fields": ["prompt"], "classes": ["collapse"]}),
        (_("Translations"), {"fields": ["translations"], "classes": ["collapse"]}),
        (_("Backend check"), {"fields": ["backend_report"]}),
        (_("Settings"), {"fields": ["enabled", "live_previews", "requires_consent", "ordering", "notes", "version"]}),
        (_("Publishing"), {"fields": ["publish_anyway"]}),
    ]
    change_list_template = "admin/catalog/workflowtemplate/change_list.html"
    change_form_template = "admin/catalog/workflowtemplate/change_form.html"

    class Media:
        js = ["js/admin-template-slug.js"]

    def get_queryset(self, request):
        drafts_of = TemplateVersion.objects.filter(template=OuterRef("pk"), published_at__isnull=True)
        return super().get_queryset(request).annotate(has_draft=Exists(drafts_of))

    def get_fieldsets(self, request, obj=None):
        """A new template starts from its workflow: the prompt box comes first, open."""
        if obj is not None:
            return self.fieldsets
        workflow = (
            WORKFLOW,
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
        shown = gettext("version %(n)d") % {"n": obj.version}
        return gettext("%(version)s + draft") % {"version": shown} if obj.has_draft else shown

    @admin.display(description=_("Backend check"))
    def backend_report(self, obj: WorkflowTemplate) -> str:
        if not obj.pk:
            return "—"
        reports = report_for_backends(obj.prompt, configured_backends(), obj.params)
        return render_to_string("admin/catalog/workflowtemplate/backend_report.html", {"reports": reports})

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
        drafts.save_draft(obj, content, request.user)
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
        draft = drafts.draft_of(obj)
        message = saved_message(obj, draft, published="_publish" in request.POST)
        self.message_user(request, message, messages.SUCCESS)
        edited = draft if draft is not None else obj
        for gap in translation_gaps(edited, edited.params, edited.translations):
            self.message_user(request, gap_message(gap), messages.WARNING)
        return redirect("admin:catalog_workflowtemplate_change", obj.pk)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        draft = drafts.draft_of(obj) if obj is not None else None
        if obj is None:
            status = gettext("A new template starts as a draft: visitors see it once you publish it.")
        else:
            status = status_text(obj, draft)
        context["studio"] = {
            "status": status,
            "is_draft": obj is None or obj.published_at is None or draft is not None,
            "can_discard": obj is not None and obj.published_at is not None and draft is not None,
            "discard_url": reverse("admin:catalog_workflowtemplate_discard", args=[obj.pk]) if obj else "",
            "versions_url": reverse("admin:catalog_workflowtemplate_versions", args=[obj.pk]) if obj else "",
            "preview_url": preview_url(obj),
        }
        return super().render_change_form(request, context, add, change, form_url, obj)
