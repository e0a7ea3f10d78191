"""Who a visitor is: their account when logged in, else their session (created on first need)."""

from __future__ import annotations

from django.http import HttpRequest

VISITOR_KEY = "comfyweb_visitor"  # in the session: the key the visitor's anonymous jobs were made under


def visitor_session_key(request: HttpRequest) -> str:
    """Anonymous visitors own their jobs through the session, so make sure one exists.

    The key is also kept in the session's data: logging in changes the key but keeps the data,
    so the jobs made before can be handed to the account (see jobs.signals).
    """
    if not request.session.session_key:
        request.session.save()
    key = request.session.session_key or ""
    if key and VISITOR_KEY not in request.session:
        request.session[VISITOR_KEY] = key
    return key
