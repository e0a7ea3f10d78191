"""moto's S3 API as a process of its own, with what AWS checks and moto does not: presigned URLs expire.

    python -m tests.s3_server --port 9000

moto serves presigned GETs without looking at their `X-Amz-Date` and `X-Amz-Expires`; AWS answers 403
`AccessDenied` "Request has expired" once they have passed. This WSGI layer in front of moto's own app does
the same, so that the tests can see a page's image links expire. Everything else is moto's. With its IAM
authentication on (INITIAL_NO_AUTH_ACTION_COUNT) moto refuses wrong keys but cannot serve presigned URLs at
all, so tests/s3.py turns it on only where wrong credentials are the point.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


def presigned_url_expired(query_string: str, now: float) -> bool:
    """True when a presigned URL's validity has passed: SigV4 (X-Amz-Date + X-Amz-Expires) or SigV2 (Expires)."""
    query = parse_qs(query_string)
    try:
        if query.get("X-Amz-Algorithm") == ["AWS4-HMAC-SHA256"]:
            signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            return now > signed + int(query["X-Amz-Expires"][0])
        if "Signature" in query and "Expires" in query:
            return now > int(query["Expires"][0])
    except (KeyError, ValueError):
        return True  # a presigned URL without a readable date or lifetime is refused too
    return False


class ExpiringPresignedUrls:
    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        if presigned_url_expired(environ.get("QUERY_STRING", ""), time.time()):
            start_response(
                "403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(EXPIRED)))]
            )
            return [EXPIRED]
        return self.app(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    app = ExpiringPresignedUrls(DomainDispatcherApplication(create_backend_app))
    run_simple(options.host, options.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
