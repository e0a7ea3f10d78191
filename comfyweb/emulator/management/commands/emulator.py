"""`manage.py emulator`: an alias of `python -m comfyweb.emulator` (same options, same server)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from comfyweb.emulator.cli import DESCRIPTION, add_arguments, serve


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # a standalone protocol server: the web app's checks do not apply
    help = DESCRIPTION

    def add_arguments(self, parser) -> None:
        add_arguments(parser)

    def handle(self, *args, **options) -> None:
        serve(options, stdout=self.stdout)
