from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from comfyweb.core.media_bucket import create_bucket, uses_s3


class Command(BaseCommand):
    help = "Create the S3 media bucket (AWS_STORAGE_BUCKET_NAME) when it does not exist yet."
    # The media check (comfyweb.E002) would refuse to run this command for the very bucket it creates.
    requires_system_checks = []

    def handle(self, *args, **options) -> None:
        if not uses_s3():
            raise CommandError("AWS_STORAGE_BUCKET_NAME is not set: media are on local disk, there is no bucket.")
        try:
            created = create_bucket()
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"S3 media bucket {settings.AWS_STORAGE_BUCKET_NAME}: {exc}") from exc
        verb = "created" if created else "already exists"
        self.stdout.write(f"S3 media bucket {settings.AWS_STORAGE_BUCKET_NAME} {verb}")
