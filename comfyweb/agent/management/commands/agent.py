"""`manage.py agent`: an alias of `python -m comfyweb.agent` (same options, same uvicorn server).

The agent needs no Django settings; this alias is for checkouts where `manage.py` is the habit. Its
logging follows the web's settings.LOGGING instead of the agent's own LOG_FORMAT set-up.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from comfyweb.agent.cli import DESCRIPTION, UsageError, add_arguments, settings_from_options


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # the agent uses no web-app table unless the db:// store is chosen
    help = DESCRIPTION

    def add_arguments(self, parser) -> None:
        add_arguments(parser)

    def handle(self, *args, **options) -> None:
        try:
            settings = settings_from_options(options)
        except UsageError as exc:
            raise CommandError(str(exc)) from exc
        # Imported only to serve: `manage.py help agent` loads no server.
        from comfyweb.agent.server import serve

        serve(settings, stdout=self.stdout)
