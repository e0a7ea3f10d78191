from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from comfyweb.jobs.trust.purge import purge


class Command(BaseCommand):
    help = (
        "Delete what is past its retention: visitors' photos, jobs with their images, kept photos never sent "
        "(files in Django storage and database rows; docs/privacy.md). Workers do this every PURGE_INTERVAL."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--now", default=None, help="purge as of this ISO time instead of the current time")

    def handle(self, *args, now: str | None, **options) -> None:
        moment = timezone.now()
        if now:
            moment = parse_datetime(now)
            if moment is None:
                self.stderr.write(f"--now: not an ISO date and time: {now!r}")
                raise SystemExit(2)
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
        self.stdout.write(f"purge: {purge(now=moment)}")
