"""How REST API clients are identified: a token, or the session like the pages (visitors included)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.request import Request


class VisitorSessionAuthentication(SessionAuthentication):
    """Session auth that also checks CSRF for anonymous visitors who carry a session cookie.

    Their jobs belong to the session, so a cross-site form must not create or cancel them. A client
    without cookies (curl, scripts) has nothing to forge and is not asked for a CSRF token.
    """

    def authenticate(self, request: Request):
        result = super().authenticate(request)
        if (
            result is None
            and request.method not in SAFE_METHODS
            and settings.SESSION_COOKIE_NAME in request._request.COOKIES
        ):
            self.enforce_csrf(request)
        return result


class VisitorSessionScheme(SessionScheme):
    """The OpenAPI description of VisitorSessionAuthentication: the session cookie, like DRF's."""

    target_class = VisitorSessionAuthentication


class VisitorAPIMixin:
    """Token or session (account or anonymous visitor); every endpoint decides what the visitor may see."""

    authentication_classes = [TokenAuthentication, VisitorSessionAuthentication]
    permission_classes = [AllowAny]

    def visitor(self) -> tuple[object | None, str]:
        """(the account or None, the session key or "") without creating a session."""
        user = self.request.user if self.request.user.is_authenticated else None
        return user, self.request.session.session_key or ""
