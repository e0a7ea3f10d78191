"""End-user pages: thin views over comfyweb.campaigns.services, the catalog form and the jobs services."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from comfyweb.campaigns import creations, held, services, trust
from comfyweb.campaigns.cards import batch_index, card_snapshot, job_strings, queue_label
from comfyweb.campaigns.downloads import download_name
from comfyweb.campaigns.error_summary import error_summary
from comfyweb.campaigns.models import Campaign
from comfyweb.campaigns.steps import group_fields, visitor_params
from comfyweb.catalog.backends_check import backends_options_resolver
from comfyweb.catalog.forms import UPLOAD_SUFFIX, build_template_form, release_decoded_photos
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.comfy.images import DecodersBusy
from comfyweb.core.clientip import client_ip
from comfyweb.core.middleware import BUSY_MESSAGE
from comfyweb.core.streaming import stored_file_response
from comfyweb.core.visitors import visitor_session_key
from comfyweb.jobs.api.throttles import RATE_LIMITED, job_creation_wait
from comfyweb.jobs.models import Job
from comfyweb.jobs.selectors import can_view, visitor_jobs
from comfyweb.jobs.services import cancel_all, cancel_job, retry_job, submit_jobs
from comfyweb.jobs.trust.consent import consent_message
from comfyweb.jobs.trust.purge import forget_visitor


def home(request: HttpRequest) -> HttpResponse:
    """The gallery of every published and enabled template, plus the running campaigns."""
    context = {
        "workflow_templates": WorkflowTemplate.objects.visible(),
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
    template = get_object_or_404(WorkflowTemplate.objects.visible(), slug=slug)
    campaign_obj = None
    if campaign is not None:
        campaign_obj = get_object_or_404(Campaign, slug=campaign, enabled=True)
        if not campaign_obj.entries.filter(template=template).exists():
            raise Http404("template not in campaign")
    resolver = backends_options_resolver()
    # The form in the visitor's language (only texts differ from the template: the values map the same).
    shown = SimpleNamespace(prompt=template.prompt, params=visitor_params(template))
    consent = trust.consent_box(template, campaign_obj)
    if request.method == "POST":
        page = _take_submission(request, template, campaign_obj, shown, resolver, consent=consent)
        if page.results_url:
            return redirect(page.results_url)
    else:
        page = Submission(build_template_form(shown, options_resolver=resolver), status=200)
        again = _job_to_make_again(request, template)
        if again is not None:
            held.prefill_from_values(request, page.form, again.values or {})
            page.quantity = _batch_size(again)
    context = {
        "workflow_template": template,
        "campaign": campaign_obj,
        "window": campaign_obj.window_state() if campaign_obj else "open",
        "form": page.form,
        "groups": group_fields(page.form, shown.params),
        "problems": error_summary(page.form, page.errors, consent_error=page.consent_error),
        "quantity": page.quantity or settings.JOB_DEFAULT_QUANTITY,
        "quantities": range(services.MIN_QUANTITY, settings.JOB_MAX_QUANTITY + 1),
        "consent": consent,
        "consent_error": page.consent_error,
        "consent_given": request.method == "POST" and request.POST.get("consent") == "yes",
    }
    response = render(request, "campaigns/template.html", context, status=page.status)
    if page.retry_after is not None:
        response["Retry-After"] = str(page.retry_after)
    return response


@dataclass
class Submission:
    """The template's form to show (again) and why; or, after a valid POST, the results' URL."""

    form: object = None
    status: int = 400
    errors: list[str] = field(default_factory=list)
    quantity: int | None = None
    results_url: str | None = None
    retry_after: int | None = None
    consent_error: str = ""


def _take_submission(request: HttpRequest, template, campaign, shown, resolver, *, consent) -> Submission:
    """Cheapest checks first: the rate limit before the form (whose photos are decoded last), then consent,
    then the jobs (whose moderation looks at the decoded photos)."""
    wait = job_creation_wait(request)
    if wait is not None:  # a refused submission costs no decode
        return Submission(_form_as_posted(request, shown, resolver), 429, [str(RATE_LIMITED)], retry_after=wait)
    form = build_template_form(shown, data=request.POST, files=request.FILES.copy(), options_resolver=resolver)
    held.attach_held_files(request, form)
    submission = Submission(form)
    try:
        submission.quantity = services.parse_quantity(request.POST.get("quantity"))
    except ValidationError as exc:
        submission.errors.extend(exc.messages)
    consented = request.POST.get("consent") == "yes"
    if consent is not None and not consented and held.photos_sent(form):
        submission.consent_error = str(consent_message())
    try:
        valid = form.is_valid()
    except DecodersBusy as busy:  # every decode slot stayed taken: come back shortly
        form = _form_as_posted(request, shown, resolver)
        return Submission(form, 503, [str(BUSY_MESSAGE)], submission.quantity, retry_after=busy.retry_after)
    if valid and not submission.errors and not submission.consent_error:
        try:
            submission.results_url = _submit(
                request, template, campaign, form, submission.quantity, submission.errors, consented=consented
            )
        except ValidationError:  # consent_required: the photos came in a way the page did not see
            submission.consent_error = str(consent_message())
    if not submission.results_url and not submission.consent_error:  # without consent, no photo is kept
        policy = trust.campaign_policy(campaign) if campaign else trust.policy_for("")
        held.keep_valid_photos(request, form, threshold=policy.input_threshold)  # valid photos stay chosen
    # Every check is done: the photos' pixels go now, not when the collector finds the form's cycle.
    release_decoded_photos(getattr(form, "cleaned_data", {}))
    return submission


def _form_as_posted(request: HttpRequest, shown, resolver):
    """The form refused before its checks ran: unbound (validating it would decode the photos), showing the
    values typed and the photos kept from an earlier try; photos chosen in this try must be chosen again."""
    form = build_template_form(shown, options_resolver=resolver)
    held.show_posted_photos(request, form)
    for name in form.fields:
        if name in request.POST and name not in held.image_field_names(form):
            form.initial[name] = request.POST.get(name)
    return form


def _field_of(form, name: str) -> str | None:
    """The form field a value's name stands for (a gallery's photo is its upload field)."""
    upload = name + UPLOAD_SUFFIX
    return upload if upload in form.fields else name if name in form.fields else None


def _submit(request, template, campaign, form, quantity: int, errors: list[str], *, consented: bool) -> str | None:
    """Check window and quota, create the jobs; return the results URL or append the reasons to `errors`
    (a value the moderation refuses: to its field). A missing consent is raised (code "consent_required")."""
    values = form.cleaned_data
    session_key = visitor_session_key(request)
    user = request.user if request.user.is_authenticated else None
    try:
        jobs = submit_jobs(
            template=template,
            values=values,
            quantity=quantity,
            owner=user,
            session_key=session_key,
            client_ip=client_ip(request),
            rules=services.submission_rules(template, campaign),
            consented=consented,
        )
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for name, messages_ in exc.message_dict.items():
                form.add_error(_field_of(form, name), messages_)
        elif any(error.code == "consent_required" for error in exc.error_list):
            raise
        else:
            errors.extend(exc.messages)
        return None
    if len(jobs) == 1 or not jobs[0].batch:
        return reverse("campaigns:job", kwargs={"job_id": jobs[0].id})
    return reverse("campaigns:batch", kwargs={"batch_id": jobs[0].batch})


_group_fields = group_fields  # the layout of the form's steps (see campaigns.steps)


def _job_to_make_again(request: HttpRequest, template) -> Job | None:
    """The visitor's job named by `?again=` when it ran this template ("make again with the same choices")."""
    key = creations.parse_key(request.GET.get("again"))
    if key is None:
        return None
    job = Job.objects.filter(pk=key, template=template).first()
    session_key = request.session.session_key or ""
    return job if job is not None and can_view(job, user=request.user, session_key=session_key) else None


def _batch_size(job: Job) -> int:
    """How many images the visitor asked for: the batch's jobs without the new tries of some of them."""
    size = Job.objects.filter(batch=job.batch, retry_of__isnull=True).count() if job.batch else 1
    return min(max(size, services.MIN_QUANTITY), settings.JOB_MAX_QUANTITY)


def _visible_jobs(request: HttpRequest, jobs) -> list:
    """Jobs hold visitors' own photos: only their owner (account or session) or staff may see them."""
    session_key = request.session.session_key or ""
    visible = [job for job in jobs if can_view(job, user=request.user, session_key=session_key)]
    if not visible:
        raise Http404("no such job")
    return visible


def job_page(request: HttpRequest, job_id) -> HttpResponse:
    """One job: live progress (WebSocket), server-rendered snapshot for no-JS visitors and reloads."""
    jobs = _visible_jobs(request, Job.objects.without_prompt().select_related("template").filter(id=job_id))
    return _results(request, jobs, batch_id=None)


def batch_page(request: HttpRequest, batch_id) -> HttpResponse:
    """Every job of one submission in one results grid."""
    jobs = Job.objects.without_prompt().filter(batch=batch_id).select_related("template").order_by("created_at", "id")
    return _results(request, _visible_jobs(request, jobs), batch_id=batch_id)


def _back_to(request: HttpRequest, fallback: str) -> str:
    """The page a card's form came from (`next`), when it is on this site."""
    wanted = request.POST.get("next") or request.GET.get("next")
    return wanted if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}) else fallback


def _job_url(job: Job) -> str:
    return reverse("campaigns:batch", args=[job.batch]) if job.batch else reverse("campaigns:job", args=[job.pk])


@require_POST
def job_retry(request: HttpRequest, job_id) -> HttpResponse:
    """Run a failed or cancelled job again with the same values, once: a second press changes nothing."""
    [job] = _visible_jobs(request, Job.objects.filter(id=job_id))
    back = _job_url(job)
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
        return redirect(back)
    try:
        again = retry_job(job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    if job.batch:
        return redirect(back)  # the new try joined the batch: the visitor stays on the batch page
    new_try = again[0] if again else Job.objects.filter(retry_of=job).first()
    return redirect("campaigns:job", job_id=new_try.pk) if new_try else redirect(back)


@require_POST
def job_cancel(request: HttpRequest, job_id) -> HttpResponse:
    """Stop a job that is waiting or running."""
    [job] = _visible_jobs(request, Job.objects.without_prompt().filter(id=job_id))
    cancel_job(job=job)
    return redirect(_back_to(request, reverse("campaigns:job", args=[job.pk])))


def job_card(request: HttpRequest, job_id) -> HttpResponse:
    """One job's card, drawn as on its page: the page's script swaps it in when the job reaches an end."""
    [job] = _visible_jobs(request, Job.objects.without_prompt().select_related("template").filter(id=job_id))
    on_queue = request.GET.get("on") == "queue"  # "my queue" names each card's template too
    snapshot = card_snapshot(job, label=queue_label(job)) if on_queue else card_snapshot(job, index=batch_index(job))
    context = {"s": snapshot, "back": _back_to(request, _job_url(job))}
    return render(request, "campaigns/_job.html", context)


def _results(request: HttpRequest, jobs: list, batch_id) -> HttpResponse:
    snapshots = [card_snapshot(job, index=n if batch_id else None) for n, job in enumerate(jobs, start=1)]
    template = jobs[0].template
    campaign = Campaign.objects.filter(slug=getattr(jobs[0], "campaign", "") or None, enabled=True).first()
    again = creations.Creation(key=str(batch_id or jobs[0].pk), jobs=jobs, campaign=campaign).again_url
    context = {
        "snapshots": snapshots,
        "batch_id": batch_id,
        "workflow_template": template,
        "again_url": again,
        "strings": job_strings(),
        "back": request.get_full_path(),
        "all_finished": all(s["final"] for s in snapshots),
        "any_done": any(s["outputs"] for s in snapshots),  # "download all" and "share all" of a batch
    }
    return render(request, "campaigns/results.html", context)


def job_image(request: HttpRequest, job_id, n: int) -> HttpResponse:
    """The n-th image of a job as a download named `<template slug>-<date>-<n>.<ext>`."""
    [job] = _visible_jobs(request, Job.objects.without_prompt().select_related("template").filter(id=job_id))
    outputs = [output for output in job.outputs.all() if not output.is_withheld]  # each knows `job` already
    if not 1 <= n <= len(outputs):
        raise Http404("no such image")
    output = outputs[n - 1]
    try:  # streamed a chunk at a time (a FileResponse is read whole into memory by an ASGI server)
        response = stored_file_response(
            output.file.name, content_type=output.content_type, filename=download_name(output), as_attachment=True
        )
    except OSError as exc:
        raise Http404("no such image") from exc
    response["Cache-Control"] = "private, max-age=3600"
    response["Vary"] = "Cookie"
    return response


def _visitor_jobs(request: HttpRequest):
    return visitor_jobs(user=request.user, session_key=request.session.session_key or "")


def my_queue(request: HttpRequest) -> HttpResponse:
    """Everything the visitor has waiting or being made, across batches, in the order it will run."""
    jobs = (
        _visitor_jobs(request)
        .filter(status__in=Job.ACTIVE_STATUSES)
        .select_related("template")
        .order_by("fair_tag", "created_at", "id")
    )
    snapshots = [card_snapshot(job, label=queue_label(job)) for job in jobs]
    context = {"snapshots": snapshots, "strings": job_strings(), "back": request.get_full_path()}
    return render(request, "campaigns/queue.html", context)


@require_POST
def cancel_my_queue(request: HttpRequest) -> HttpResponse:
    """Cancel everything the visitor has waiting or running (only their own jobs)."""
    count = cancel_all(_visitor_jobs(request))
    if count:
        messages.success(request, ngettext("Cancelled %(n)d image.", "Cancelled %(n)d images.", count) % {"n": count})
    return redirect("campaigns:queue")


def my_creations(request: HttpRequest) -> HttpResponse:
    """The visitor's submissions, newest first, a page at a time."""
    page, items = creations.creations_page(_visitor_jobs(request), request.GET.get("page"))
    return render(request, "campaigns/me.html", {"page": page, "creations": items})


@require_POST
def delete_creation(request: HttpRequest) -> HttpResponse:
    """Delete one of the visitor's submissions with its images and photos."""
    key = creations.parse_key(request.POST.get("key"))
    if key is None:
        raise Http404("no such creation")
    try:
        deleted = creations.delete_creation(_visitor_jobs(request), key)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        deleted = None
    if deleted == 0:
        raise Http404("no such creation")
    if deleted:
        messages.success(request, _("Deleted, with its images and your photos."))
    page = request.POST.get("page") or ""
    return redirect(reverse("campaigns:me") + (f"?page={page}" if page.isdigit() else ""))


def privacy_page(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """The privacy statement: a campaign's (its purpose, retention and consent), or the site's."""
    campaign = get_object_or_404(Campaign, slug=slug, enabled=True) if slug is not None else None
    context = {"campaign": campaign, **trust.privacy_facts(campaign)}
    return render(request, "campaigns/privacy.html", context)


@require_POST
def delete_everything(request: HttpRequest) -> HttpResponse:
    """ "Delete everything of mine": every job of the visitor with its images and photos, and their kept photos."""
    result = forget_visitor(
        _visitor_jobs(request), kept_photos=held.forget_held(request), cancel=lambda job: cancel_job(job=job)
    )
    if result.stopping:
        messages.warning(
            request,
            _("Deleted. %(n)d image(s) were still being made: they are stopped now; delete again in a moment.")
            % {"n": result.stopping},
        )
    else:
        messages.success(request, _("Everything you made here and every photo you sent is deleted."))
    return redirect("campaigns:me")
