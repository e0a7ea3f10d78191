"""Media files (visitors' pictures, job outputs and thumbnails) on local disk, behind the app's ownership check.

Who may read what:

* `outputs/…` and `thumbnails/…`: the job's owner (account or session) and staff, like the job page; an
  output withheld by the moderation: staff only;
* `inputs/…`: anyone who has the exact name. Inputs are stored under the SHA-256 of their bytes, so the
  name cannot be guessed, and GPU agents fetch them by URL when CATALOG_IMAGE_INPUT is "url";
* anything else: nobody (404).

How the bytes go out once the check passes:

* DEBUG or the loopback demo (EMBEDDED_DEV): `django.views.static.serve`;
* MEDIA_ACCEL_REDIRECT_PREFIX set (production): an empty answer with `X-Accel-Redirect`, and nginx sends
  the file from an `internal` location (docs/single-gpu-box.md);
* otherwise (production without a front server): the web process streams the file (system check W003).

With S3 storage this view is not mounted: pages carry presigned URLs that expire (AWS_QUERYSTRING_AUTH).
"""

from __future__ import annotations

import mimetypes
import posixpath
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.views.static import serve

from comfyweb.core.streaming import sent_in_chunks
from comfyweb.jobs.models import JobOutput
from comfyweb.jobs.selectors import can_view

CAPABILITY_PREFIXES = ("inputs/",)
OWNED_PREFIXES = {"outputs/": "file", "thumbnails/": "thumbnail"}
PRIVATE_MAX_AGE = 3600


def clean_media_name(path: str) -> str | None:
    """The storage name `path` stands for, or None when it tries to leave MEDIA_ROOT or is malformed."""
    if not path or "\x00" in path or "\\" in path or path.startswith("/"):
        return None
    name = posixpath.normpath(path)
    if name in (".", "..") or name.startswith("../") or name != path.rstrip("/"):
        return None
    return name


def may_read(request: HttpRequest, name: str) -> bool:
    if name.startswith(CAPABILITY_PREFIXES):
        return True
    for prefix, field in OWNED_PREFIXES.items():
        if name.startswith(prefix):
            output = JobOutput.objects.select_related("job").defer("job__prompt").filter(**{field: name}).first()
            if output is None:
                return False
            user = getattr(request, "user", None)
            if output.is_withheld and not getattr(user, "is_staff", False):
                return False  # withheld for the operators' review: not even its owner sees it
            session_key = (request.session.session_key or "") if hasattr(request, "session") else ""
            return can_view(output.job, user=getattr(request, "user", None), session_key=session_key)
    return False


def media_file(request: HttpRequest, path: str) -> HttpResponse:
    """One media file, after the ownership check (see the module's docstring)."""
    name = clean_media_name(path)
    if name is None or not may_read(request, name):
        raise Http404("no such file")
    if settings.DEBUG or settings.EMBEDDED_DEV:
        response = serve(request, name, document_root=settings.MEDIA_ROOT)
    elif settings.MEDIA_ACCEL_REDIRECT_PREFIX:
        if not default_storage.exists(name):
            raise Http404("no such file")
        content_type, _encoding = mimetypes.guess_type(name)
        response = HttpResponse(content_type=content_type or "application/octet-stream")
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT_PREFIX.rstrip("/") + "/" + quote(name)
    else:
        try:
            handle = default_storage.open(name, "rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise Http404("no such file") from exc
        content_type, _encoding = mimetypes.guess_type(name)
        response = FileResponse(handle, content_type=content_type or "application/octet-stream")
    sent_in_chunks(response)  # a FileResponse (also `serve`'s) is read whole into memory by an ASGI server
    patch_cache_control(response, private=True, max_age=PRIVATE_MAX_AGE)
    if not name.startswith(CAPABILITY_PREFIXES):
        response["Vary"] = "Cookie"  # who asks decides the answer
    return response
