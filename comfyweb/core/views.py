"""Operational endpoints shared by every page: liveness and readiness for probes and load balancers."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from comfyweb.core.readiness import readiness


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 whenever this process answers. Restarting it would not bring a database back."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database and Redis answer; 503 naming the part that does not."""
    ready, checks = readiness()
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
