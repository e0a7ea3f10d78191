"""Counting moderation checks in the database, so every web process's /metrics shows the whole pool's numbers
(web processes check photos and text, `runjobs` workers check the images made)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F

from comfyweb.jobs.models import ModerationTally

logger = logging.getLogger(__name__)


def count_check(*, stage: str, kind: str, outcome: str, seconds: float) -> None:
    """One more check of (stage, kind) with this outcome, and the time it took."""
    key = {"stage": stage, "kind": kind, "outcome": outcome}
    try:
        with transaction.atomic():
            if ModerationTally.objects.filter(**key).update(checks=F("checks") + 1, seconds=F("seconds") + seconds):
                return
            ModerationTally.objects.create(**key, checks=1, seconds=seconds)
    except IntegrityError:  # another process created the row first
        ModerationTally.objects.filter(**key).update(checks=F("checks") + 1, seconds=F("seconds") + seconds)
    except Exception:
        logger.warning("could not count a moderation check", exc_info=True)
