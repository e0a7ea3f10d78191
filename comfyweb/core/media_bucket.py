"""S3 media: is the bucket there and do the credentials open it? Asked once when a process starts.

Without this a wrong bucket name or key shows up only when the first visitor uploads a photo, as a 500. The
system check comfyweb.E002 (management commands: web, runjobs, migrate, serve…) and `comfyweb.asgi` (an ASGI server runs
no system checks) both refuse to start with the message of `bucket_problem()`.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from django.conf import settings
from django.core.files.storage import default_storage

MISSING_BUCKET = "NoSuchBucket"
REFUSED_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AccessDenied", "403"}
)
BUCKET_HINT = "Create the bucket (python manage.py createbucket) or correct AWS_STORAGE_BUCKET_NAME."
CREDENTIALS_HINT = "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key that may list, read and write the bucket."


def uses_s3() -> bool:
    return bool(getattr(settings, "AWS_STORAGE_BUCKET_NAME", ""))


def _endpoint() -> str:
    return default_storage.connection.meta.client.meta.endpoint_url


def bucket_problem() -> tuple[str, str] | None:
    """(message, hint) when the media bucket cannot be used with these settings; None when it can (or no S3)."""
    if not uses_s3():
        return None
    bucket = settings.AWS_STORAGE_BUCKET_NAME
    try:
        default_storage.connection.meta.client.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except NoCredentialsError:
        return f"S3 media bucket {bucket}: no credentials.", CREDENTIALS_HINT
    except EndpointConnectionError as exc:
        return (
            f"S3 media bucket {bucket}: the endpoint {_endpoint()} cannot be reached ({exc}).",
            "Check AWS_ENDPOINT_URL (or the network to it).",
        )
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == MISSING_BUCKET:
            return f"S3 media bucket {bucket} does not exist at {_endpoint()}.", BUCKET_HINT
        if code in REFUSED_CREDENTIALS:
            return f"S3 media bucket {bucket}: the credentials were refused ({code}).", CREDENTIALS_HINT
        return f"S3 media bucket {bucket}: {exc}", "See docs/troubleshooting.md."
    except BotoCoreError as exc:
        return f"S3 media bucket {bucket}: {exc}", "See docs/troubleshooting.md."
    return None


def create_bucket() -> bool:
    """Create the media bucket when it is missing (the compose trial's S3 API starts empty); True if created."""
    client = default_storage.connection.meta.client
    bucket = settings.AWS_STORAGE_BUCKET_NAME
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) not in ("404", MISSING_BUCKET):
            raise
    region = client.meta.region_name
    if region and region != "us-east-1":
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    else:
        client.create_bucket(Bucket=bucket)
    return True
