"""End-user pages: thin views over comfyweb.campaigns.services, the catalog form and the jobs services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from comfyweb.campaigns import services
from comfyweb.campaigns.models import Campaign
from comfyweb.catalog.backends_check import backends_options_resolver
from comfyweb.catalog.forms import build_template_form
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job
from comfyweb.jobs.selectors import can_view, job_snapshot, visitor_jobs
from comfyweb.jobs.services import cancel_job, retry_job, submit_jobs


def home(request: HttpRequest) -> HttpResponse:
    """The gallery of every enabled template, plus the running campaigns."""
    context = {
        "workflow_templates": WorkflowTemplate.objects.filter(enabled=True),
        "campaigns": [c for c in Campaign.objects.filter(enabled=True) if c.window_state() == "open"],
    }
    return render(request, "campaigns/home.html", context)


def campaign_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A campaign's landing page: hero and its templates as cards."""
    campaign = get_object_or_404(Campaign, slug=slug, enabled=True)
    context = {
        "campaign": campaign,
        "window": campaign.window_state(),
        "workflow_templates": campaign.ordered_templates(),
    }
    return render(request, "campaigns/campaign.html", context)


def template_page(request: HttpRequest, slug: str, campaign: str | None = None) -> HttpResponse:
    """The template's form; a valid POST creates `quantity` jobs and redirects to their results."""
    template = get_object_or_404(WorkflowTemplate, slug=slug, enabled=True)
    campaign_obj = None
    if campaign is not None:
        campaign_obj = get_object_or_404(Campaign, slug=campaign, enabled=True)
        if not campaign_obj.entries.filter(template=template).exists():
            raise Http404("template not in campaign")
    errors: list[str] = []
    quantity = services.DEFAULT_QUANTITY
    resolver = backends_options_resolver()
    if request.method == "POST":
        form = build_template_form(template, data=request.POST, files=request.FILES, options_resolver=resolver)
        try:
            quantity = services.parse_quantity(request.POST.get("quantity"))
        except ValidationError as exc:
            errors.extend(exc.messages)
        if form.is_valid() and not errors:
            batch_url = _submit(request, template, campaign_obj, form.cleaned_data, quantity, errors)
            if batch_url:
                return redirect(batch_url)
        status = 400
    else:
        form = build_template_form(template, options_resolver=resolver)
        status = 200
    context = {
        "workflow_template": template,
        "campaign": campaign_obj,
        "window": campaign_obj.window_state() if campaign_obj else "open",
        "form": form,
        "groups": _group_fields(form, template.params),
        "errors": errors,
        "quantity": quantity,
        "quantities": range(services.MIN_QUANTITY, services.MAX_QUANTITY + 1),
    }
    return render(request, "campaigns/template.html", context, status=status)


def _submit(request, template, campaign, values: dict, quantity: int, errors: list[str]) -> str | None:
    """Check window and quota, create the jobs; return the results URL or append the reasons to `errors`."""
    session_key = services.visitor_session_key(request)
    user = request.user if request.user.is_authenticated else None
    try:
        jobs = submit_jobs(
            template=template,
            values=values,
            quantity=quantity,
            owner=user,
            session_key=session_key,
            client_ip=request.META.get("REMOTE_ADDR"),
            campaign=campaign,
        )
    except ValidationError as exc:
        errors.extend(exc.messages)
        return None
    if len(jobs) == 1 or not jobs[0].batch:
        return reverse("campaigns:job", kwargs={"job_id": jobs[0].id})
    return reverse("campaigns:batch", kwargs={"batch_id": jobs[0].batch})


def _group_fields(form, params: list) -> list[dict]:
    """The visible fields as steps: each `group` panel of `params` is one step, loose panels share one."""
    group_of: dict[str, str] = {}
    for panel in params or []:
        if isinstance(panel, dict) and panel.get("type") == "group":
            for child in panel.get("children") or []:
                if isinstance(child, dict) and "id" in child and "key" in child:
                    group_of[f"{child['id']}.{child['key']}"] = str(panel.get("title") or "")
    steps: list[dict] = []
    open_step: dict | None = None
    for bound in form.visible_fields():
        label = group_of.get(bound.name)
        if label is not None:
            if not steps or steps[-1].get("group") != label:
                steps.append({"group": label, "label": label, "fields": []})
            steps[-1]["fields"].append(bound)
            open_step = None
            continue
        if open_step is None:
            open_step = {"group": None, "label": "", "fields": []}
            steps.append(open_step)
        open_step["fields"].append(bound)
    return steps


def _visible_jobs(request: HttpRequest, jobs) -> list:
    """Jobs hold visitors' own photos: only their owner (account or session) or staff may see them."""
    session_key = request.session.session_key or ""
    visible = [job for job in jobs if can_view(job, user=request.user, session_key=session_key)]
    if not visible:
        raise Http404("no such job")
    return visible


def job_page(request: HttpRequest, job_id) -> HttpResponse:
    """One job: live progress (WebSocket), server-rendered snapshot for no-JS visitors and reloads."""
    jobs = _visible_jobs(request, Job.objects.select_related("template").filter(id=job_id))
    return _results(request, jobs, batch_id=None)


def batch_page(request: HttpRequest, batch_id) -> HttpResponse:
    """Every job of one submission in one results grid."""
    jobs = Job.objects.filter(batch=batch_id).select_related("template").order_by("created_at", "id")
    return _results(request, _visible_jobs(request, jobs), batch_id=batch_id)


@require_POST
def job_retry(request: HttpRequest, job_id) -> HttpResponse:
    """Run a failed or cancelled job again with the same values."""
    [job] = _visible_jobs(request, Job.objects.filter(id=job_id))
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
        return redirect("campaigns:job", job_id=job.pk)
    try:
        [again] = retry_job(job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("campaigns:job", job_id=job.pk)
    return redirect("campaigns:job", job_id=again.pk)


@require_POST
def job_cancel(request: HttpRequest, job_id) -> HttpResponse:
    """Stop a job that is waiting or running."""
    [job] = _visible_jobs(request, Job.objects.filter(id=job_id))
    cancel_job(job=job)
    return redirect(
        request.POST.get("next")
        if url_has_allowed_host_and_scheme(request.POST.get("next"), allowed_hosts={request.get_host()})
        else reverse("campaigns:job", args=[job.pk])
    )


def _results(request: HttpRequest, jobs: list, batch_id) -> HttpResponse:
    snapshots = [job_snapshot(job) for job in jobs]
    template = jobs[0].template
    context = {
        "snapshots": snapshots,
        "batch_id": batch_id,
        "workflow_template": template,
        "all_finished": all(s["status"] in ("succeeded", "failed", "cancelled") for s in snapshots),
    }
    return render(request, "campaigns/results.html", context)


def my_creations(request: HttpRequest) -> HttpResponse:
    """The visitor's own jobs, newest first."""
    jobs = visitor_jobs(user=request.user, session_key=request.session.session_key or "")
    jobs = list(jobs.select_related("template").order_by("-created_at")[:100])
    return render(request, "campaigns/me.html", {"snapshots": [job_snapshot(job) for job in jobs]})
