from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from comfyweb.catalog.services import import_files


class Command(BaseCommand):
    help = "Create or update workflow templates (by slug) from workflows/*.json files."

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="*", type=Path, help="files or directories (default: workflows/)")

    def handle(self, *args, paths: list[Path], **options) -> None:
        paths = paths or [Path(settings.BASE_DIR) / "workflows"]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"No such file or directory: {', '.join(missing)}")
        try:
            saved = import_files(paths)
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from exc
        self.stdout.write(f"Loaded {len(saved)} workflow template(s): {', '.join(t.slug for t in saved)}")
