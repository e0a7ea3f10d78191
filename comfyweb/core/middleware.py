"""Probes and scrapers reach a pod by its IP address, which no ALLOWED_HOSTS entry names."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class InternalEndpointsMiddleware:
    """Answer `/healthz`, and `/metrics` for a METRICS_TOKEN bearer, before the host name is checked.

    Kubernetes probes and Prometheus scrape each pod at `<pod-ip>:8000`; Django would refuse that
    Host with a 400. Neither answer depends on the host, and `/metrics` still needs the token (a
    staff user's browser goes through the normal stack with a real host name).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            if request.path_info == "/healthz":
                from comfyweb.core.views import healthz

                return healthz(request)
            if request.path_info == "/metrics" and request.headers.get("Authorization"):
                from comfyweb.jobs.metrics import may_read_metrics, metrics_view

                if may_read_metrics(request):
                    return metrics_view(request)
        return self.get_response(request)
