"""Take-away pages: share links (made, shown with a QR code and stopped by the visitor; opened by anyone
who holds one) and "download all" of a batch as one ZIP. The rules are in campaigns.sharing and
campaigns.archives; these views only translate between HTTP and them.

The visitor's own routes answer only the visitor who made the images (account or session): not staff,
not another visitor. The public routes (`/s/<token>/…`) answer whoever holds a live link, and show only
the images: no values typed, no photos sent, nothing about the visitor.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from comfyweb.campaigns import archives, sharing
from comfyweb.campaigns.downloads import download_name
from comfyweb.campaigns.models import ShareLink
from comfyweb.campaigns.qr import qr_svg
from comfyweb.core.streaming import stored_file_response
from comfyweb.jobs.models import Job
from comfyweb.jobs.selectors import visitor_jobs

# The site's Referrer-Policy (same-origin) keeps the token from other sites; "no-referrer" would also make the
# browser send `Origin: null` with the page's own forms (the language switch), which CSRF rightly refuses.
PUBLIC_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow, noarchive",  # a shared page is no page of the site's to list
    "Cache-Control": "private, no-cache",  # asked again each time: a stopped link stops at once
}


def _own_jobs(request: HttpRequest):
    """The visitor's own jobs (account, else session): only they may share or download their batch."""
    return visitor_jobs(user=request.user, session_key=request.session.session_key or "")


def _public(response: HttpResponse) -> HttpResponse:
    for header, value in PUBLIC_HEADERS.items():
        response[header] = value
    return response


# --- The visitor's side: make a link, see it with its QR code, stop it; download a batch.


def share_job(request: HttpRequest, job_id) -> HttpResponse:
    """Share one job's images: the form choosing how long the link works, or the link already made."""
    shareable = sharing.shareable_job(_own_jobs(request), job_id)
    if shareable is None:
        raise Http404("no such job")
    return _share(request, shareable, back=_results_url(shareable))


def share_batch(request: HttpRequest, batch_id) -> HttpResponse:
    """Share every image of a batch with one link."""
    shareable = sharing.shareable_batch(_own_jobs(request), batch_id)
    if shareable is None:
        raise Http404("no such batch")
    return _share(request, shareable, back=_results_url(shareable))


def _results_url(shareable: sharing.Shareable) -> str:
    if shareable.batch:
        return reverse("campaigns:batch", kwargs={"batch_id": shareable.batch})
    return reverse("campaigns:job", kwargs={"job_id": shareable.job.pk})


def _share(request: HttpRequest, shareable: sharing.Shareable, *, back: str) -> HttpResponse:
    existing = sharing.active_link(shareable)
    if existing is not None:
        return redirect("campaigns:share_link", link_id=existing.pk)
    errors: list[str] = []
    days = sharing.day_choices()
    chosen = min(days, key=lambda day: abs(day - settings.SHARE_LINK_DAYS))
    if request.method == "POST":
        try:
            chosen = sharing.parse_days(request.POST.get("days"))
            link = sharing.create_link(shareable, days=chosen)
        except ValidationError as error:
            errors.extend(error.messages)
        else:
            return redirect("campaigns:share_link", link_id=link.pk)
    context = {
        "shareable": shareable,
        "images": shareable.images,
        "choices": [(day, sharing.validity_label(day)) for day in days],
        "chosen": chosen,
        "errors": errors,
        "back": back,
    }
    return render(request, "campaigns/share_new.html", context, status=400 if errors else 200)


def _own_link(request: HttpRequest, link_id: int) -> ShareLink:
    link = get_object_or_404(ShareLink.objects.select_related("job__template").defer("job__prompt"), pk=link_id)
    if not _own_jobs(request).filter(pk=link.job_id).exists():
        raise Http404("no such link")
    return link


def _link_context(request: HttpRequest, link: ShareLink) -> dict:
    opened = sharing.shared_images(link)
    shareable = sharing.Shareable(job=link.job, batch=link.batch, jobs=[])
    return {
        "link": link,
        "url": request.build_absolute_uri(link.get_absolute_url()),
        "images": len(opened.images),
        "expired": link.is_expired(),
        "back": _results_url(shareable),
    }


@require_safe
def share_link(request: HttpRequest, link_id: int) -> HttpResponse:
    """The visitor's link: to copy, as a QR code, until when it works, and "stop sharing"."""
    link = _own_link(request, link_id)
    return render(request, "campaigns/share_link.html", _link_context(request, link))


@require_safe
def share_qr(request: HttpRequest, link_id: int) -> HttpResponse:
    """The QR code as large as the screen allows: for a booth screen, scanned from a step away."""
    link = _own_link(request, link_id)
    return render(request, "campaigns/share_qr.html", _link_context(request, link))


@require_safe
def share_qr_image(request: HttpRequest, link_id: int) -> HttpResponse:
    """The link's QR code as an SVG image (only its owner's pages show it)."""
    link = _own_link(request, link_id)
    response = HttpResponse(qr_svg(request.build_absolute_uri(link.get_absolute_url())), content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
def share_stop(request: HttpRequest, link_id: int) -> HttpResponse:
    """Stop sharing: the link stops working at once, for everyone who has it."""
    link = _own_link(request, link_id)
    back = _link_context(request, link)["back"]
    link.delete()
    messages.success(request, _("The link no longer works: nobody can open it any more."))
    return redirect(back)


@require_safe
def batch_archive(request: HttpRequest, batch_id) -> HttpResponse:
    """Every finished image of the visitor's batch as one ZIP (their own batches only)."""
    jobs = list(_own_jobs(request).filter(batch=batch_id).prefetch_related("outputs").order_by("created_at", "id"))
    return _archive(jobs)


def _archive(jobs: list[Job]) -> HttpResponse:
    outputs = [output for job in jobs for output in sharing.shown_outputs(job)]
    if not outputs:
        raise Http404("no finished image")
    return archives.zip_response(outputs, jobs)


# --- The public side: whoever holds a live link.


def _live_link(token: str) -> ShareLink:
    link = sharing.open_link(token)
    if link is None or link.is_expired():
        raise Http404("no such link")
    return link


def _gone(request: HttpRequest, *, expired: bool) -> HttpResponse:
    """A link that does not work, saying why: expired (410), or stopped / never was (404)."""
    response = render(request, "campaigns/share_gone.html", {"expired": expired}, status=410 if expired else 404)
    return _public(response)


@require_safe
def shared(request: HttpRequest, token: str) -> HttpResponse:
    """The shared images, read-only, with their downloads (and all of them as a ZIP when there are several)."""
    link = sharing.open_link(token)
    if link is None:
        return _gone(request, expired=False)
    if link.is_expired():
        return _gone(request, expired=True)
    opened = sharing.shared_images(link)
    if not opened.images:
        return _gone(request, expired=False)
    template = opened.images[0][0].template
    context = {"link": link, "images": opened.images, "workflow_template": template}
    return _public(render(request, "campaigns/shared.html", context))


@require_safe
def shared_image(request: HttpRequest, token: str, job_id, n: int) -> HttpResponse:
    """One shared image, to show on the shared page."""
    return _shared_file(token, job_id, n, as_attachment=False)


@require_safe
def shared_image_download(request: HttpRequest, token: str, job_id, n: int) -> HttpResponse:
    """One shared image as a download named like the visitor's own (`<slug>-<date>-<n>.png`)."""
    return _shared_file(token, job_id, n, as_attachment=True)


def _shared_file(token: str, job_id, n: int, *, as_attachment: bool) -> HttpResponse:
    output = sharing.shared_image(_live_link(token), job_id, n)
    if output is None:
        raise Http404("no such image")
    name = download_name(output) if as_attachment else ""
    try:
        response = stored_file_response(
            output.file.name, content_type=output.content_type, filename=name, as_attachment=as_attachment
        )
    except OSError as exc:
        raise Http404("no such image") from exc
    return _public(response)


@require_safe
def shared_archive(request: HttpRequest, token: str) -> HttpResponse:
    """Every shared image as one ZIP."""
    link = _live_link(token)
    return _public(_archive(sharing.link_jobs(link)))
