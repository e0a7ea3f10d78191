"""A visitor who logs in keeps the images made before, under the account."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from comfyweb.core.visitors import VISITOR_KEY
from comfyweb.jobs.models import Job

logger = logging.getLogger(__name__)


@receiver(user_logged_in, dispatch_uid="comfyweb.jobs.adopt_visitor_jobs")
def adopt_visitor_jobs(sender, request, user, **kwargs) -> None:
    """Logging in gives the session a new key; the jobs made under the old one move to the account."""
    session = getattr(request, "session", None)
    key = session.get(VISITOR_KEY) if session is not None else None
    if not key:
        return
    adopted = Job.objects.filter(session_key=key, owner__isnull=True).update(owner=user)
    if adopted:
        logger.info("%d job(s) of an anonymous session now belong to user %s", adopted, user.pk)
