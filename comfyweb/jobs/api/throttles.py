"""Rate limits for creating jobs: per visitor (account, else session) and per client IP.

Rates ("30/min") come from settings JOB_CREATE_RATE and JOB_CREATE_IP_RATE, read at each request;
the cache (Redis when scaled out) keeps the counts for every process.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.throttling import SimpleRateThrottle

from comfyweb.core.visitors import visitor_session_key

logger = logging.getLogger(__name__)

RATE_LIMITED = _("Too many new jobs in a short time. Please wait a moment and try again.")


class JobCreateThrottle(SimpleRateThrottle):
    """Base of the job creation limits (the view answers 429 with RATE_LIMITED).

    The counts live in the cache: while it (Redis) is away the limits are not applied, rather than
    refusing every visitor (the waiting-jobs cap and the daily quotas, in the database, still hold).
    """

    rate_setting = "JOB_CREATE_RATE"

    def get_rate(self) -> str | None:
        return getattr(settings, self.rate_setting) or None

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache backend's own errors (redis-py's)
            logger.warning("job creation limits not applied: the cache is unavailable", exc_info=True)
            return True


class JobCreateVisitorThrottle(JobCreateThrottle):
    """One visitor: their account when logged in (token or session), else their session."""

    scope = "job_create_visitor"

    def get_cache_key(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"session-{visitor_session_key(request)}"  # the session that will own the jobs
        return self.cache_format % {"scope": self.scope, "ident": ident}


class JobCreateIPThrottle(JobCreateThrottle):
    """One client address, whoever it claims to be (NUM_PROXIES decides which address that is)."""

    scope = "job_create_ip"
    rate_setting = "JOB_CREATE_IP_RATE"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def job_creation_wait(request) -> int | None:
    """The API's creation limits, applied to the template page's form as well (a plain HttpRequest):
    None when the request may create jobs, else the seconds to wait (for Retry-After)."""
    refused = [
        throttle
        for throttle in (JobCreateVisitorThrottle(), JobCreateIPThrottle())
        if not throttle.allow_request(request, None)
    ]
    if not refused:
        return None
    return max(1, math.ceil(max(throttle.wait() or 1 for throttle in refused)))
