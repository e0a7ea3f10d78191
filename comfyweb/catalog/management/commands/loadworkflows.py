from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.services import import_files


class Command(BaseCommand):
    help = (
        "Create or update workflow templates (by slug) from workflows/*.json files (docs/templates.md). "
        "A file may also be anything ComfyUI saves — a workflow (Save), an API prompt (Save (API)), a PNG or "
        "WebP with the workflow inside — which becomes a new, disabled template with the proposed fields."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="*", type=Path, help="files or directories (default: workflows/)")
        parser.add_argument(
            "--object-info",
            type=Path,
            help="a backend's /object_info saved as JSON, to convert UI workflows with "
            "(default: the first GPU backend that answers, else the one recorded from ComfyUI 0.3.75)",
        )

    def handle(self, *args, paths: list[Path], object_info: Path | None = None, **options) -> None:
        paths = paths or [Path(settings.BASE_DIR) / "workflows"]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"No such file or directory: {', '.join(missing)}")
        info = None
        if object_info is not None:
            try:
                info = json.loads(object_info.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"{object_info}: not a readable /object_info JSON file: {exc}") from exc
        try:
            saved = import_files(paths, object_info=info)
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from exc
        self.stdout.write(f"Loaded {len(saved)} workflow template(s): {', '.join(t.slug for t in saved)}")
        disabled = [t.slug for t in saved if not t.enabled and isinstance(t, WorkflowTemplate)]
        if disabled:
            self.stdout.write(f"Disabled until reviewed and enabled in the admin: {', '.join(disabled)}")
