"""Files from Django storage sent a chunk at a time, on the asynchronous (ASGI) web server.

Django's StreamingHttpResponse (and FileResponse) served by an ASGI server reads a synchronous iterator
whole into a list before the first byte leaves. The responses here get an asynchronous iterator instead,
which pulls one chunk at a time from the synchronous source in a worker thread: a download costs the web
process about one chunk, whatever the file's size, on local disk and on S3 alike.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.files.storage import default_storage
from django.http import HttpResponseBase, StreamingHttpResponse
from django.utils.http import content_disposition_header

from comfyweb.core.db import release_pooled_connections

CHUNK = 256 * 1024  # bytes read from storage at a time
_END = object()


def storage_chunks(name: str) -> Iterator[bytes]:
    """A stored file's bytes, CHUNK at a time; opened when the first chunk is wanted, closed after the last."""
    with default_storage.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class _OneAtATime:
    """`source`'s next chunk and its closing, never at the same time: a client that leaves while a chunk is
    being read in a worker thread has the source closed once that read is over (a generator refuses to be
    closed while it runs)."""

    def __init__(self, source: Iterator[bytes]) -> None:
        self.source = source
        self.lock = threading.Lock()

    def next(self) -> object:
        with self.lock:
            return next(self.source, _END)

    def close(self) -> None:
        with self.lock:
            close = getattr(self.source, "close", None)
            if close is not None:
                close()


async def pulled(source: Iterator[bytes]) -> AsyncIterator[bytes]:
    """`source` as an asynchronous iterator: each next chunk is made in a worker thread, only when wanted."""
    guarded = _OneAtATime(source)
    try:
        while (chunk := await sync_to_async(guarded.next, thread_sensitive=False)()) is not _END:
            yield chunk
    finally:
        await sync_to_async(guarded.close, thread_sensitive=False)()  # a client that left: files closed at once


def streamed_response(
    source: Iterator[bytes], *, size: int | None, content_type: str, filename: str = "", as_attachment: bool = False
) -> StreamingHttpResponse:
    """A response that sends `source` as it is read (with its length when known, for a download's progress).

    The view's pooled database connection goes back now: a slow phone's download does not hold it."""
    release_pooled_connections()
    response = StreamingHttpResponse(pulled(source), content_type=content_type)
    if size is not None:
        response["Content-Length"] = str(size)
    if filename or as_attachment:
        response["Content-Disposition"] = content_disposition_header(as_attachment, filename)
    return response


def stored_file_response(
    name: str, *, content_type: str, filename: str = "", as_attachment: bool = False
) -> StreamingHttpResponse:
    """A stored file as a streamed response; FileNotFoundError when storage has no such file."""
    size = default_storage.size(name)
    return streamed_response(
        storage_chunks(name), size=size, content_type=content_type, filename=filename, as_attachment=as_attachment
    )


def sent_in_chunks(response: HttpResponseBase) -> HttpResponseBase:
    """`response` (a FileResponse, or what Django's static `serve` answers) made to send its file CHUNK at a
    time from a worker thread, and the view's pooled database connection given back, as `streamed_response`
    does; any other response as it is."""
    if not getattr(response, "streaming", False) or response.is_async:
        return response
    release_pooled_connections()
    filelike = getattr(response, "file_to_stream", None)  # FileResponse reads 4 KiB at a time: one hop each
    source = iter(functools.partial(filelike.read, CHUNK), b"") if filelike is not None else response.streaming_content
    response.streaming_content = pulled(source)  # the file stays among the response's closers
    return response
