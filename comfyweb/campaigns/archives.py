"""Download all: a batch's images as one ZIP, streamed entry by entry, never built in memory.

zipstream-ng writes the archive as it is read; each entry's bytes come from Django storage a chunk at a
time when the archive reaches it (local disk and S3 alike). Entries are stored, not compressed (PNG,
JPEG and WebP are compressed already), so the archive's length is known before its first byte and a phone
shows the download's progress. Entries are named like the single downloads (`<slug>-<date>-<n>.png`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify
from zipstream import ZIP_STORED, ZipStream

from comfyweb.campaigns.downloads import download_name
from comfyweb.core.streaming import storage_chunks, streamed_response
from comfyweb.jobs.models import Job, JobOutput

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One file of the archive: where it is stored, its name inside the archive, its size."""

    name: str
    arcname: str
    size: int


def archive_entries(outputs: list[JobOutput]) -> list[Entry]:
    """The archive's entries, named as their single downloads; a file missing from storage is left out."""
    entries: list[Entry] = []
    taken: set[str] = set()
    for output in outputs:
        try:
            size = default_storage.size(output.file.name)
        except OSError:
            logger.warning("an image of job %s is missing from storage: %s", output.job_id, output.file.name)
            continue
        arcname = download_name(output)
        stem, suffix = PurePosixPath(arcname).stem, PurePosixPath(arcname).suffix
        count = 1
        while arcname in taken:  # never two entries of one name (an unzip would ask which to keep)
            count += 1
            arcname = f"{stem}-{count}{suffix}"
        taken.add(arcname)
        entries.append(Entry(name=output.file.name, arcname=arcname, size=size))
    return entries


def zip_stream(entries: list[Entry]) -> ZipStream:
    """The archive, not yet written: each entry is read from storage only when the archive gets to it."""
    stream = ZipStream(compress_type=ZIP_STORED, sized=True)
    for entry in entries:
        stream.add(storage_chunks(entry.name), entry.arcname, size=entry.size)
    return stream


def archive_name(jobs: list[Job]) -> str:
    """`couple-photo-2026-05-20.zip`: the template and the day, as the images inside are named."""
    first = jobs[0]
    slug = first.template.slug if first.template_id else slugify(first.template_title) or "images"
    return f"{slug}-{timezone.localtime(first.created_at).date().isoformat()}.zip"


def zip_response(outputs: list[JobOutput], jobs: list[Job]) -> StreamingHttpResponse:
    """The whole archive as a download that streams (Content-Length set: the size is known up front)."""
    stream = zip_stream(archive_entries(outputs))
    response = streamed_response(
        iter(stream), size=len(stream), content_type="application/zip", filename=archive_name(jobs), as_attachment=True
    )
    response["Cache-Control"] = "private, no-store"
    return response
