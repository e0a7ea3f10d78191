"""Who a visitor is: their account when logged in, else their session (created on first need).

A job page's WebSocket learns it from the session cookie alone (`session_visitor`), with the session read
in the same query as the job it asks for: a reconnect storm costs one query per socket.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.db.models import Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

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


@dataclass(frozen=True)
class SessionVisitor:
    """Who a session cookie names: `session_key` is '' when no such session lives; `user` is its account."""

    session_key: str
    user: Any = None


def sessions_in_database() -> bool:
    """Sessions are rows of the database (Django's default): a query may read one beside other data."""
    return settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"


def live_session_data(session_key: str) -> Subquery:
    """The stored data of the session `session_key` while it lives, as a subquery: read in the same query as
    what it is checked against (a job's owner, for one). Only with sessions_in_database()."""
    from django.contrib.sessions.models import Session

    live = Session.objects.filter(session_key=session_key, expire_date__gt=timezone.now())
    return Subquery(live.values("session_data")[:1])


def live_sessions_data(session_keys: Iterable[str]) -> dict[str, str]:
    """{session key: stored data} of those of `session_keys` that name a live session, in one query.
    Only with sessions_in_database()."""
    from django.contrib.sessions.models import Session

    keys = {key for key in session_keys if key}
    if not keys:
        return {}
    live = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
    return dict(live.values_list("session_key", "session_data"))


LOAD_SESSION: Any = object()  # session_visitor(stored=LOAD_SESSION): the session is loaded from its engine


def session_visitor(session_key: str, stored: str | None = LOAD_SESSION, *, known_users=()) -> SessionVisitor:
    """The visitor of a session cookie, checked as django.contrib.auth.get_user checks a request's.

    `stored`: the session's data read by `live_session_data` (None: no such session); by default the
    session is loaded from its engine. A logged-in visitor who is one of `known_users` (read in the same
    query) costs no query; any other account is read as Django reads it.
    """
    if not session_key:
        return SessionVisitor("")
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if stored is LOAD_SESSION:
        data = store.load()
        if store.session_key is None:  # load() forgets a key that names no live session
            return SessionVisitor("")
    elif stored is None:
        return SessionVisitor("")
    else:
        data = store.decode(stored)
    user_id = data.get(SESSION_KEY)
    if user_id is None:
        return SessionVisitor(session_key)
    backend_path = data.get(BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return SessionVisitor(session_key)
    backend = load_backend(backend_path)
    known = next((user for user in known_users if user is not None and str(user.pk) == str(user_id)), None)
    if known is not None and hasattr(backend, "user_can_authenticate"):
        user = known if backend.user_can_authenticate(known) else None
    else:
        user = backend.get_user(user_id)
    if user is None or not _hash_matches(user, data.get(HASH_SESSION_KEY)):
        return SessionVisitor(session_key)
    return SessionVisitor(session_key, user)


def _hash_matches(user, session_hash: str | None) -> bool:
    """The session was made with the account's current password (or under an older SECRET_KEY still accepted)."""
    if not hasattr(user, "get_session_auth_hash"):
        return True
    if not session_hash:
        return False
    hashes = [user.get_session_auth_hash(), *getattr(user, "get_session_auth_fallback_hash", lambda: [])()]
    return any(constant_time_compare(session_hash, known) for known in hashes)
