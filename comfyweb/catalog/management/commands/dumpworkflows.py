from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.services import export_templates


class Command(BaseCommand):
    help = "Print workflow templates in the workflows/*.json list format."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slugs", nargs="*", help="only these templates")

    def handle(self, *args, slugs: list[str], **options) -> None:
        queryset = WorkflowTemplate.objects.all()
        if slugs:
            queryset = queryset.filter(slug__in=slugs)
        self.stdout.write(json.dumps(export_templates(queryset), ensure_ascii=False, indent=2))
