"""Moderation: pluggable checks of visitors' photos and text (before a job is queued) and of the images made
(before a visitor sees them).

A check is a class named by its dotted path in settings.MODERATION_CHECKS. It implements `Check`:

* `check_image(image, *, stage, threshold)` — `image` is a decoded PIL image (never bytes: the photo was
  decoded once by the upload checks); `stage` is "input" or "output"; `threshold` (0–1) is the campaign's;
  answer a `Verdict`, or None when the check does not look at pictures;
* `check_text(text, *, stage)` — the same for a visitor's text.

Checks run in order; the first that blocks decides. A check that raises blocks too when
MODERATION_FAIL_CLOSED is on (the default): an output waits for review, an input is refused with
"try again". Every check is counted (jobs.trust.tally) for the metrics. A cloud moderation service is
one more `Check` subclass that calls the service (docs/privacy.md shows one).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string
from PIL import Image

from comfyweb.core.db import release_pooled_connections
from comfyweb.jobs.trust.tally import count_check

logger = logging.getLogger(__name__)

INPUT, OUTPUT = "input", "output"


@dataclass(frozen=True)
class Verdict:
    """A check's answer: `blocked` or not, its score (0–1, for thresholds and the review queue) and why."""

    blocked: bool
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    check: str = ""
    error: bool = False

    def as_detail(self) -> dict:
        return {"check": self.check, "score": round(self.score, 3), "reasons": list(self.reasons), "error": self.error}


PASSED = Verdict(blocked=False)


class Check:
    """The interface of a moderation check (see the module's docstring). Instances are made once per process."""

    name = "check"

    def check_image(self, image: Image.Image, *, stage: str, threshold: float) -> Verdict | None:
        return None

    def check_text(self, text: str, *, stage: str) -> Verdict | None:
        return None


@functools.cache
def _load(paths: tuple[str, ...]) -> tuple[Check, ...]:
    return tuple(import_string(path)() for path in paths if path)


def configured_checks() -> tuple[Check, ...]:
    """The checks of settings.MODERATION_CHECKS, each made once per process."""
    return _load(tuple(settings.MODERATION_CHECKS))


def _failed(check: Check, exc: Exception) -> Verdict:
    logger.exception("moderation check %s failed", check.name)
    return Verdict(
        blocked=bool(settings.MODERATION_FAIL_CLOSED),
        reasons=(f"{check.name} failed: {type(exc).__name__}",),
        check=check.name,
        error=True,
    )


def _run(kind: str, stage: str, ask) -> Verdict:
    """Ask every check in turn; the first blocking verdict (else PASSED). Counted, with the time spent.

    A detector run can take a second on a busy CPU: the thread's pooled database connection is given back
    first (counting borrows one again), so waiting checks never hold every connection of the process."""
    release_pooled_connections()
    started = time.perf_counter()
    verdict = PASSED
    asked = False
    for check in configured_checks():
        try:
            answer = ask(check)
        except Exception as exc:
            answer = _failed(check, exc)
        if answer is None:
            continue
        asked = True
        if answer.blocked or answer.error:
            verdict = answer
            if answer.blocked:
                break
    if asked:
        outcome = "error" if verdict.error else "blocked" if verdict.blocked else "passed"
        count_check(stage=stage, kind=kind, outcome=outcome, seconds=time.perf_counter() - started)
    return verdict


def moderate_image(image: Image.Image, *, stage: str, threshold: float) -> Verdict:
    """Run the picture checks on a decoded image."""
    return _run("image", stage, lambda check: check.check_image(image, stage=stage, threshold=threshold))


def moderate_text(text: str, *, stage: str) -> Verdict:
    """Run the text checks on a visitor's text."""
    if not text.strip():
        return PASSED
    return _run("text", stage, lambda check: check.check_text(text, stage=stage))
