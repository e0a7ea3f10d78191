"""Test runs from the template admin: the catalog's admin, plus real jobs of a template or of its draft.

The catalog cannot queue jobs (it sits below jobs), so this module extends its template admin and
registers the extended one in its place. Test runs come from the "try it" action (the published version,
default values) and from the editor's preview (what the operator is editing, with the preview's values,
on the GPU backend they chose); they are the operator's own jobs, shown on the usual job page.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog.admin import WorkflowTemplateAdmin
from comfyweb.catalog.drafts import run_as
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.services import sample_values
from comfyweb.jobs.models import GpuBackend, Job
from comfyweb.jobs.services import create_jobs


class WorkflowTemplateAdminWithTestRuns(WorkflowTemplateAdmin):
    can_test_run = True
    actions = ["try_it"]

    @admin.action(description=_("Try it: submit a test job with default values and a sample photo"))
    def try_it(self, request, queryset) -> None:
        for template in queryset:
            jobs = self.create_test_jobs(request, template, sample_values(template))
            if jobs:
                url = reverse("campaigns:job", kwargs={"job_id": jobs[0].id})
                self.message_user(
                    request,
                    format_html('{}: <a href="{}">{}</a>', template.title, url, _("test job submitted")),
                    messages.SUCCESS,
                )

    def test_run_backends(self) -> list[tuple[str, str]]:
        return [(str(backend.pk), backend.name) for backend in GpuBackend.objects.filter(enabled=True).order_by("name")]

    def create_test_jobs(
        self, request, template: WorkflowTemplate, values: dict, *, content=None, backend: str = "", quantity=1
    ) -> list[Job]:
        """The operator's job(s) of `template`, or of `content` (its draft: the job records version 0), on
        `backend` (a GpuBackend pk) when given; none when refused (the reason becomes an admin message).

        A chosen backend is set on the queued job before anyone can claim it: the dispatcher then sends
        the job there (as it does with a job going back to its backend), even when its slots are busy.
        """
        if not request.session.session_key:
            request.session.save()
        chosen = GpuBackend.objects.filter(pk=int(backend), enabled=True).first() if str(backend).isdigit() else None
        try:
            with transaction.atomic():
                jobs = create_jobs(
                    template=run_as(template, content),
                    values=values,
                    quantity=quantity,
                    owner=request.user,
                    session_key=request.session.session_key or "",
                    client_ip=request.META.get("REMOTE_ADDR"),
                )
                if chosen is not None:
                    Job.objects.filter(pk__in=[job.pk for job in jobs], status=Job.Status.QUEUED).update(backend=chosen)
        except ValidationError as exc:
            self.message_user(request, f"{template.title}: {'; '.join(exc.messages)}", messages.ERROR)
            return []
        return jobs


admin.site.unregister(WorkflowTemplate)
admin.site.register(WorkflowTemplate, WorkflowTemplateAdminWithTestRuns)
