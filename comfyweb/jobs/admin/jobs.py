"""Operators' view of jobs and GPU backends: look, cancel, retry, check a backend now.

Jobs are records of what ran: every field is read-only here, and changes go through the same
services as the site (cancel_job, retry_job) so the browsers watching a job see them at once.
"""

from __future__ import annotations

import json
import uuid

import httpx
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from comfyweb.jobs.backends import mark_unhealthy, probe_emulated
from comfyweb.jobs.models import GpuBackend, Job, JobOutput
from comfyweb.jobs.services import cancel_job, retry_job
from comfyweb.jobs.trust.purge import due_dates

HEALTH_TIMEOUT = 5.0
BUSY_STATUSES = (Job.Status.DISPATCHED, Job.Status.RUNNING)
RUN_FIELDS = ["backend", "attempts", "claimed_by", "heartbeat_at", "cancel_requested", "percent", "current_node",
              "error", "created_at", "dispatched_at", "started_at", "finished_at"]  # fmt: skip


def thumbnail_link(output: JobOutput, alt: str = "") -> str:
    """An output's thumbnail, linking to the full image in a new tab (operators only: the admin)."""
    image = output.thumbnail or output.file
    if not image:
        return "—"
    return format_html(
        '<a href="{}" target="_blank" rel="noopener"><img class="thumbnail" src="{}" alt="{}"></a>',
        output.file.url,
        image.url,
        alt,
    )


def pretty_json(value: object) -> str:
    """JSON for people: indented, non-ASCII kept, in a scrollable <pre>."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="json">{}</pre>', text)


def health_url(backend: GpuBackend) -> str:
    """Agents answer /api/ready (ComfyUI up, warm, not full); a plain ComfyUI answers /system_stats."""
    path = "/api/ready" if backend.kind == GpuBackend.Kind.AGENT else "/system_stats"
    return backend.url.rstrip("/") + path


def check_backend_health(backend: GpuBackend, timeout: float = HEALTH_TIMEOUT) -> tuple[bool, str]:
    """Ask the backend now and record the answer; (healthy, reason when not)."""
    headers = {"Authorization": f"Bearer {backend.token}"} if backend.token else {}
    try:
        response = httpx.get(health_url(backend), headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    else:
        if response.status_code == 200:
            GpuBackend.objects.filter(pk=backend.pk).update(
                healthy=True, last_error="", last_checked_at=timezone.now(), unhealthy_until=None
            )
            probe_emulated(backend, timeout=timeout)
            return True, ""
        reason = f"{health_url(backend)} answered HTTP {response.status_code}: {response.text[:200]}"
    mark_unhealthy(backend, reason)
    return False, reason


class JobOutputInline(admin.TabularInline):
    model = JobOutput
    extra = 0
    can_delete = False
    fields = ["preview", "node_id", "index", "filename", "width", "height", "file", "review"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("image"))
    def preview(self, output: JobOutput) -> str:
        return thumbnail_link(output)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ["css/admin-jobs.css"]}  # styles by class: the admin's CSP allows no inline style

    list_display = ["short_id", "status", "template_title", "backend", "visitor", "percent", "attempts", "created_at"]
    list_filter = ["status", "template", "backend", "created_at"]
    list_select_related = ["template", "backend", "owner"]
    search_fields = ["template_title", "owner__username", "session_key", "client_ip"]
    search_help_text = _("A job id (full UUID), a template title, a user name, a session key or an IP.")
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    inlines = [JobOutputInline]
    actions = ["cancel_jobs", "retry_jobs"]
    fieldsets = [
        (None, {"fields": ["id", "status", "template", "template_version", "template_title", "batch"]}),
        (_("Visitor"), {"fields": ["owner", "session_key", "client_ip", "consent_version", "consent_at"]}),
        (_("Retention"), {"fields": ["campaign", "inputs_purged_at", "purged_when"]}),
        (_("Run"), {"fields": RUN_FIELDS}),
        (_("What it ran"), {"fields": ["values_pretty", "seeds_pretty", "prompt_pretty"]}),
        (_("Progress"), {"fields": ["progress_pretty", "error_detail_pretty"]}),
    ]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        """Everything: a job is a record; cancel and retry are actions."""
        names = [name for _title, options in self.fieldsets for name in options["fields"]]
        return names

    def has_add_permission(self, request) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term: str):
        """A pasted job id finds that job (UUIDs are not searchable as text on every database)."""
        try:
            job_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(pk=job_id), False

    @admin.display(description=_("what will be purged when"))
    def purged_when(self, job: Job) -> str:
        photos, whole = due_dates(job)
        when = _("Photos: %(photos)s. The job with its images: %(job)s.") % {
            "photos": date_format(timezone.localtime(photos), "DATETIME_FORMAT") if photos else _("already deleted"),
            "job": date_format(timezone.localtime(whole), "DATETIME_FORMAT"),
        }
        return when

    @admin.display(description=_("job"), ordering="id")
    def short_id(self, job: Job) -> str:
        return str(job.pk)[:8]

    @admin.display(description=_("visitor"))
    def visitor(self, job: Job) -> str:
        if job.owner_id:
            return str(job.owner)
        return _("session %(key)s…") % {"key": job.session_key[:8]} if job.session_key else "—"

    @admin.display(description=_("user values"))
    def values_pretty(self, job: Job) -> str:
        return pretty_json(job.values)

    @admin.display(description=_("seeds used"))
    def seeds_pretty(self, job: Job) -> str:
        return pretty_json(job.seeds)

    @admin.display(description=_("substituted prompt"))
    def prompt_pretty(self, job: Job) -> str:
        return pretty_json(job.prompt)

    @admin.display(description=_("per-node progress"))
    def progress_pretty(self, job: Job) -> str:
        return pretty_json(job.progress)

    @admin.display(description=_("error detail"))
    def error_detail_pretty(self, job: Job) -> str:
        return pretty_json(job.error_detail) if job.error_detail else "—"

    @admin.action(description=_("Cancel the selected jobs"))
    def cancel_jobs(self, request, queryset) -> None:
        active = list(queryset.filter(status__in=Job.ACTIVE_STATUSES))
        for job in active:
            cancel_job(job=job, by_staff=True)
        skipped = queryset.count() - len(active)
        self.message_user(
            request,
            ngettext("Cancelled %(n)d job.", "Cancelled %(n)d jobs.", len(active)) % {"n": len(active)},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext("%(n)d job had already finished.", "%(n)d jobs had already finished.", skipped)
                % {"n": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Retry the selected jobs (a new job with the same prompt)"))
    def retry_jobs(self, request, queryset) -> None:
        finished = list(queryset.filter(status__in=Job.FINAL_STATUSES, inputs_purged_at__isnull=True))
        created = [copy for job in finished for copy in retry_job(job=job, enforce_limits=False)]
        skipped = queryset.count() - len(finished)
        self.message_user(
            request,
            ngettext("Queued %(n)d new job.", "Queued %(n)d new jobs.", len(created)) % {"n": len(created)},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(n)d job is still waiting or running; cancel it first.",
                    "%(n)d jobs are still waiting or running; cancel them first.",
                    skipped,
                )
                % {"n": skipped},
                messages.WARNING,
            )


@admin.register(GpuBackend)
class GpuBackendAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "kind", "enabled", "healthy", "emulated", "busy_slots", "slots", "last_checked_at",
                    "short_error", "from_env"]  # fmt: skip
    list_filter = ["kind", "enabled", "healthy", "from_env"]
    search_fields = ["name", "url"]
    readonly_fields = ["from_env", "healthy", "emulated", "last_error", "last_checked_at", "unhealthy_until"]
    fields = ["name", "url", "kind", "slots", "enabled", "token", *readonly_fields]
    actions = ["check_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(busy=Count("jobs", filter=Q(jobs__status__in=BUSY_STATUSES)))

    @admin.display(description=_("busy slots"), ordering="busy")
    def busy_slots(self, backend: GpuBackend) -> int:
        return backend.busy

    @admin.display(description=_("last error"))
    def short_error(self, backend: GpuBackend) -> str:
        return (backend.last_error[:80] + "…") if len(backend.last_error) > 80 else backend.last_error

    @admin.action(description=_("Check now (/api/ready of an agent, /system_stats of a ComfyUI)"))
    def check_now(self, request, queryset) -> None:
        for backend in queryset:
            healthy, reason = check_backend_health(backend)
            if healthy:
                self.message_user(request, _("%(name)s is healthy.") % {"name": backend.name}, messages.SUCCESS)
            else:
                self.message_user(
                    request, _("%(name)s is unhealthy: %(reason)s") % {"name": backend.name, "reason": reason},
                    messages.ERROR,
                )  # fmt: skip
