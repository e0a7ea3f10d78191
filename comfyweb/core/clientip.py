"""The client's IP address as the login throttle (django-axes) sees it.

Directly exposed: REMOTE_ADDR. Behind one proxy (BEHIND_PROXY=1): the last X-Forwarded-For hop, the
one the proxy itself appended (earlier hops are whatever the client sent), as DRF's NUM_PROXIES=1.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR")
