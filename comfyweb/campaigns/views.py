"""End-user pages: thin views over comfyweb.campaigns.services, the catalog form and the jobs services."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from comfyweb.campaigns import services
from comfyweb.campaigns.models import Campaign
from comfyweb.catalog.backends_check import backends_options_resolver
from comfyweb.catalog.forms import build_template_form
from comfyweb.catalog.models import WorkflowTemplate


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
        services.check_window(campaign)
        for limiting in services.quota_campaigns(template, campaign):
            services.check_quota(limiting, user=user, session_key=session_key, quantity=quantity)
        from comfyweb.jobs.services import create_jobs

        jobs = create_jobs(
            template=template,
            values=values,
            quantity=quantity,
            owner=user,
            session_key=session_key,
            client_ip=request.META.get("REMOTE_ADDR"),
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


def job_page(request: HttpRequest, job_id) -> HttpResponse:
    """One job: live progress (WebSocket), server-rendered snapshot for no-JS visitors and reloads."""
    from comfyweb.jobs.models import Job

    job = get_object_or_404(Job.objects.select_related("template"), id=job_id)
    return _results(request, [job], batch_id=None)


def batch_page(request: HttpRequest, batch_id) -> HttpResponse:
    """Every job of one submission in one results grid."""
    from comfyweb.jobs.models import Job

    jobs = list(Job.objects.filter(batch=batch_id).select_related("template").order_by("created_at", "id"))
    if not jobs:
        raise Http404("no such batch")
    return _results(request, jobs, batch_id=batch_id)


def _results(request: HttpRequest, jobs: list, batch_id) -> HttpResponse:
    snapshots = [services.snapshot(job) for job in jobs]
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
    from comfyweb.jobs.models import Job

    session_key = request.session.session_key or ""
    if request.user.is_authenticated:
        jobs = Job.objects.filter(owner=request.user)
    elif session_key:
        jobs = Job.objects.filter(session_key=session_key)
    else:
        jobs = Job.objects.none()
    try:
        from comfyweb.jobs.selectors import visitor_jobs

        jobs = visitor_jobs(user=request.user, session_key=session_key)
    except ImportError:
        pass
    jobs = list(jobs.select_related("template").order_by("-created_at")[:100])
    return render(request, "campaigns/me.html", {"snapshots": [services.snapshot(j) for j in jobs]})
