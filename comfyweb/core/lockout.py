"""What a locked-out login sees (django-axes calls `lockout_response`): a clear page in the admin's look."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

LOCKOUT_STATUS = 429


def lockout_minutes() -> int:
    """Minutes a lockout lasts; 0 when only staff can lift it."""
    cooloff = settings.AXES_COOLOFF_TIME
    return int(cooloff.total_seconds() // 60) if cooloff else 0


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    minutes = lockout_minutes()
    if request.headers.get("X-Requested-With") == "XMLHttpRequest" or request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "Too many failed log-in attempts.", "retry_after_minutes": minutes or None},
            status=LOCKOUT_STATUS,
        )
    context = {
        **admin.site.each_context(request),
        "title": None,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": minutes,
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
    }
    response = TemplateResponse(request, "admin/locked_out.html", context, status=LOCKOUT_STATUS)
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response.render()
