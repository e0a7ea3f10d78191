"""Response headers Django does not set itself: Permissions-Policy.

Content-Security-Policy comes from Django's own middleware (SECURE_CSP), Referrer-Policy, HSTS,
nosniff and Cross-Origin-Opener-Policy from its SecurityMiddleware, X-Frame-Options from the
clickjacking middleware; see settings.py and docs/security.md.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def permissions_policy_header(policy: dict[str, list[str]]) -> str:
    """`{"camera": [], "fullscreen": ["self"]}` → `camera=(), fullscreen=(self)`."""
    parts = []
    for feature, allowed in policy.items():
        origins = " ".join(origin if origin in ("self", "*") else f'"{origin}"' for origin in allowed)
        parts.append(f"{feature}=({origins})")
    return ", ".join(parts)


class PermissionsPolicyMiddleware:
    """Add the Permissions-Policy header (settings.PERMISSIONS_POLICY) to every response that has none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        policy = settings.PERMISSIONS_POLICY
        self.header = permissions_policy_header(policy) if policy else ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
