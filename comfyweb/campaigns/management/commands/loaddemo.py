"""`manage.py loaddemo`: the shipped workflow templates and campaigns, safe to run on every start."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from comfyweb.campaigns.demo import DEMO_CAMPAIGNS, load_campaigns_file


class Command(BaseCommand):
    help = "Load the shipped workflow templates (loadworkflows) and the demo campaigns; idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--campaigns", default=str(DEMO_CAMPAIGNS), help="campaigns JSON file")
        parser.add_argument("--skip-workflows", action="store_true", help="do not run loadworkflows first")

    def handle(self, *args, **options) -> None:
        if not options["skip_workflows"]:
            call_command("loadworkflows", stdout=self.stdout, stderr=self.stderr)
        path = Path(options["campaigns"])
        if not path.is_file():
            raise CommandError(f"campaigns file not found: {path}")
        campaigns, missing = load_campaigns_file(path)
        for slug in missing:
            self.stderr.write(f"campaign template not in the catalog, skipped: {slug}")
        self.stdout.write(f"loaded {len(campaigns)} campaign(s)")
