"""Test runs from the template admin: the catalog's admin, plus a "try it" that queues a real job.

The catalog cannot queue jobs (it sits below jobs), so this module extends its template admin and
registers the extended one in its place.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from comfyweb.catalog.admin import WorkflowTemplateAdmin
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.services import sample_values
from comfyweb.jobs.models import Job
from comfyweb.jobs.services import create_jobs


class WorkflowTemplateAdminWithTestRuns(WorkflowTemplateAdmin):
    can_test_run = True
    actions = ["try_it"]

    @admin.action(description=_("Try it: submit a test job with default values and a sample photo"))
    def try_it(self, request, queryset) -> None:
        for template in queryset:
            job = self.create_test_job(request, template, sample_values(template))
            if job is not None:
                url = reverse("campaigns:job", kwargs={"job_id": job.id})
                self.message_user(
                    request,
                    format_html('{}: <a href="{}">{}</a>', template.title, url, _("test job submitted")),
                    messages.SUCCESS,
                )

    def create_test_job(self, request, template: WorkflowTemplate, values: dict) -> Job | None:
        """One job for the operator (it shows in their own creations); errors become admin messages."""
        if not request.session.session_key:
            request.session.save()
        try:
            return create_jobs(
                template=template,
                values=values,
                quantity=1,
                owner=request.user,
                session_key=request.session.session_key or "",
                client_ip=request.META.get("REMOTE_ADDR"),
            )[0]
        except ValidationError as exc:
            self.message_user(request, f"{template.title}: {'; '.join(exc.messages)}", messages.ERROR)
            return None


admin.site.unregister(WorkflowTemplate)
admin.site.register(WorkflowTemplate, WorkflowTemplateAdminWithTestRuns)
