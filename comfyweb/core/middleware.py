"""Middleware of our own: probes and scrapers by pod IP address (which no ALLOWED_HOSTS entry names), and
work this process is too busy to take (503 with Retry-After)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import resolve
from django.utils.translation import gettext_lazy as _

from comfyweb.core.busy import ServerBusy

HOST_FREE_PATHS = frozenset({"/healthz", "/readyz"})
HOST_FREE_WITH_CREDENTIALS = frozenset({"/metrics"})
BUSY_MESSAGE = _("Many photos are being checked right now. Please try again in a moment.")


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


class BusyMiddleware:
    """A view that raised ServerBusy (every image decode slot taken) answers 503 with Retry-After, not 500.

    The REST API gets JSON; a page gets a short message in the visitor's language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ServerBusy):
            return None
        return busy_response(request, exception.retry_after)


def busy_response(request: HttpRequest, retry_after: int) -> HttpResponse:
    """503 with Retry-After: JSON for the API, plain text in the visitor's language elsewhere."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": str(BUSY_MESSAGE), "code": "busy"}, status=503)
    else:
        response = HttpResponse(str(BUSY_MESSAGE), content_type="text/plain; charset=utf-8", status=503)
    response["Retry-After"] = str(retry_after)
    return response


class SyncMiddlewareChain:
    """Last in MIDDLEWARE, sync only: every middleware above it runs in the request's thread, called directly.

    Django runs a middleware in async mode when everything below it can: with Django's own middleware
    (MiddlewareMixin) that means a trip from the event loop to the request's thread and back for each
    process_request and process_response, 17 per page. Under a crowd each trip waits its turn on a busy event
    loop. The views are sync, so nothing is gained by the async mode; with this at the bottom a page costs 5.
    """

    sync_capable, async_capable = True, False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)
