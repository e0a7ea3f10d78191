"""Probes and scrapers reach a pod by its IP address, which no ALLOWED_HOSTS entry names."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import resolve

HOST_FREE_PATHS = frozenset({"/healthz", "/readyz"})
HOST_FREE_WITH_CREDENTIALS = frozenset({"/metrics"})


class InternalEndpointsMiddleware:
    """Answer `/healthz` and `/readyz`, and `/metrics` for a request with credentials, before the host name is checked.

    Kubernetes probes and Prometheus scrape each pod at `<pod-ip>:8000`; Django would refuse that
    Host with a 400. Neither answer depends on the host. The views come from the URLconf, and
    `/metrics` answers only when its own check accepts the token (a staff user's browser goes through
    the normal stack).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if request.method in ("GET", "HEAD"):
            if path in HOST_FREE_PATHS:
                return self._answer(request)
            if path in HOST_FREE_WITH_CREDENTIALS and request.headers.get("Authorization"):
                response = self._answer(request)
                if response.status_code < 400:
                    return response  # refused credentials get the normal stack's answer (a bad host: 400)
        return self.get_response(request)

    @staticmethod
    def _answer(request: HttpRequest) -> HttpResponse:
        match = resolve(request.path_info)
        return match.func(request, *match.args, **match.kwargs)
