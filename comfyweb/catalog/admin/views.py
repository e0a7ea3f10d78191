"""The template admin's own pages beside the change form: import, the editor's redraws, the live preview
and its test runs, discarding a draft, and the versions (list, one version, restore).

`StudioViews` is mixed into the template's ModelAdmin (options.py), whose permissions and admin site they use.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog import drafts
from comfyweb.catalog.admin.forms import (
    MAX_SHOWN_PROBLEMS,
    ImportForm,
    editor_object_info,
    preview_url,
    unwrap_prompt,
)
from comfyweb.catalog.admin.status import status_text
from comfyweb.catalog.backends_check import backends_options_resolver
from comfyweb.catalog.editor import apply_operation, parse_json, render_editor
from comfyweb.catalog.models import TemplateVersion, WorkflowTemplate
from comfyweb.catalog.params import validate_template
from comfyweb.catalog.preview import Draft, framable_by_this_site, visitor_preview
from comfyweb.catalog.services import import_upload
from comfyweb.catalog.translations import (
    TextRow,
    TranslationsField,
    content_language,
    params_rows,
    translation_gaps,
)
from comfyweb.comfy.workflow import WorkflowConversionError, convert_workflow, is_ui_workflow


def draft_from_post(data, template: WorkflowTemplate | None) -> tuple[Draft, list[str]]:
    """The content posted by the editor (or the preview's test-run form) and why it cannot be read."""
    problems: list[str] = []
    prompt, problem = parse_json(data.get("prompt"), None)
    if problem:
        problems.append(gettext("Not valid JSON: %(e)s") % {"e": problem})
    params, problem = parse_json(data.get("params"), [])
    if problem:
        problems.append(gettext("Not valid JSON: %(e)s") % {"e": problem})
    params = params if isinstance(params, list) else []
    prompt = unwrap_prompt(prompt)
    rows = [TextRow(("title",), "", ""), TextRow(("description",), "", ""), *params_rows(params)]
    translations = TranslationsField(rows=rows).posted_value(data, "translations")
    draft = Draft(
        title=str(data.get("title") or (template.title if template else "")),
        description=str(data.get("description") or ""),
        cover=str(data.get("cover") or ""),
        prompt=prompt if isinstance(prompt, dict) else {},
        params=params,
        translations=translations,
    )
    if not problems and prompt is None:
        problems.append(gettext("The prompt is empty: paste or import a ComfyUI workflow first."))
    return draft, problems


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


def preview_language(request) -> str:
    """The language the preview shows visitor texts in: the one the operator picked, else the content's."""
    language = request.POST.get("_language") or request.GET.get("language") or content_language()
    if language not in {code.lower() for code, _name in settings.LANGUAGES}:
        language = content_language()
    return language


class StudioViews:
    """The admin views of the template studio (mixed into WorkflowTemplateAdmin)."""

    can_test_run = False  # the jobs app's admin, which can queue jobs, turns it on (see create_test_jobs)

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
        draft = next((v for v in versions if v.is_draft), None)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Versions of “%(title)s”") % {"title": template.title},
            "opts": self.model._meta,
            "original": template,
            "versions": versions,
            "status": status_text(template, draft),
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

        Visitor texts are in the language `_language` names (the content language by default); what only
        the operator reads (problems, the test-run controls) stays in the operator's own language."""
        operator_language = translation.get_language()
        template = get_object_or_404(WorkflowTemplate, pk=pk) if pk is not None else None
        allowed = (
            self.has_view_or_change_permission(request, template)
            if template is not None
            else self.has_add_permission(request) or self.has_change_permission(request)
        )
        if not allowed:
            raise PermissionDenied
        language = preview_language(request)
        with translation.override(language):
            response = self._preview(request, template, language, operator_language)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        return response

    def _preview(self, request, template: WorkflowTemplate | None, language: str, operator_language: str):
        with translation.override(operator_language):
            draft, problems, banner = self._preview_content(request, template)
            test_run = self.test_run_context(request, template)
            gaps = translation_gaps(draft, draft.params, draft.translations) if not problems else []
        preview = visitor_preview()
        resolver = backends_options_resolver()
        form, errors, status, quantity = None, [], 200, 1
        if not problems and request.method == "POST" and "_test_run" in request.POST:
            form = preview.form(preview_draft(draft), data=request.POST, files=request.FILES, options_resolver=resolver)
            with translation.override(operator_language):
                quantity = parse_quantity(request.POST.get("quantity"), errors)
            if not test_run["possible"]:
                errors.append(test_run["why_not"])
            elif form.is_valid() and not errors:
                published = drafts.published_content(template)
                shown = preview_draft(draft).content()
                content = None if published == shown else shown
                jobs = self.create_test_jobs(
                    request,
                    template,
                    form.cleaned_data,
                    content=content,
                    backend=request.POST.get("backend", ""),
                    quantity=quantity,
                )
                if jobs:
                    return self.test_run_started(request, jobs)
                # Refused by the jobs app (a limit, a closed backend…): it said why in an admin message.
                errors.extend(str(message) for message in messages.get_messages(request))
            status = 400
            if "_inline" in request.POST:  # the editor follows test runs itself: it shows these errors
                return test_run_refused(form, errors)
        elif not problems:
            form = preview.form(preview_draft(draft), options_resolver=resolver)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Preview: %(t)s") % {"t": draft.title or gettext("unsaved template")},
            "opts": self.model._meta,
            "banner": banner,
            "problems": problems,
            "translation_gaps": gaps,
            "translation_gap_count": sum(len(gap.missing) + len(gap.foreign) for gap in gaps),
            "errors": errors,
            "test_run": test_run,
            "can_try": test_run["possible"],
            "draft_fields": [*draft.hidden_fields(), ("_language", language)],
            "operator_language": operator_language,
            "in_editor": "_studio" in request.POST,
            "quantity": quantity,
            "status": status,
        }
        response = preview.render(request, draft, form, context)
        response.status_code = status
        return framable_by_this_site(response)

    def _preview_content(self, request, template: WorkflowTemplate | None) -> tuple[Draft, list[str], str]:
        """(what the preview shows, why visitors could not use it, the banner above it)."""
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
            problems = [str(p) for p in validate_template(draft.prompt, preview_draft(draft).params)]
        return draft, problems, banner

    def test_run_started(self, request, jobs: list) -> object:
        """The editor follows the jobs beside its preview; a preview opened on its own goes to their page."""
        first = jobs[0]
        if "_inline" in request.POST:
            return JsonResponse(
                {
                    "jobs": [
                        {
                            "id": str(job.pk),
                            "page": reverse("campaigns:job", kwargs={"job_id": job.pk}),
                            "socket": f"/ws/jobs/{job.pk}/",
                        }
                        for job in jobs
                    ]
                },
                status=201,
            )
        if first.batch:
            return redirect("campaigns:batch", batch_id=first.batch)
        return redirect("campaigns:job", job_id=first.id)

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

    def create_test_jobs(
        self, request, template: WorkflowTemplate, values: dict, *, content=None, backend: str = "", quantity=1
    ) -> list:
        """The test run's jobs of `template` (or of `content`, its draft); running jobs is the jobs app's, whose
        admin for templates overrides this. Empty when none could be made (the reason is an admin message)."""
        return []

    def import_view(self, request):
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                saved = import_upload(upload.read(), upload.name or "", as_draft=True)
            except ValidationError as exc:
                for message in exc.messages[:MAX_SHOWN_PROBLEMS]:
                    form.add_error("file", message)
            else:
                for template in saved:
                    if template.published_at is None:  # a workflow ComfyUI saved: the operator's draft
                        drafts.save_draft(template, drafts.content_of(template), request.user)
                if len(saved) == 1 and saved[0].published_at is None:
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


def preview_draft(draft: Draft) -> Draft:
    """The draft as the preview shows it: a step the operator just added, still without fields, is left out
    (visitors would see nothing of it; saving says it is empty)."""
    return Draft(**{**draft.content(), "params": without_empty_steps(draft.params)})


def without_empty_steps(params: list) -> list:
    kept = []
    for panel in params:
        if isinstance(panel, dict) and panel.get("type") == "group" and isinstance(panel.get("children"), list):
            children = without_empty_steps(panel["children"])
            if not children:
                continue
            panel = {**panel, "children": children}
        kept.append(panel)
    return kept


def test_run_refused(form, errors: list[str]) -> JsonResponse:
    """Why a test run from the editor was not started: the form's errors, each named by its field."""
    found = list(errors)
    if form is not None:
        for name, field_errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            found.extend(f"{label}: {error}" if label else str(error) for error in field_errors)
    return JsonResponse({"errors": found}, status=400)
