"""ASGI entry point of the web role: Django over HTTP, the job relay over WebSocket.

Served by uvicorn (`manage.py web`, `manage.py serve`: comfyweb.core.webserver); any ASGI server can load
it, and every one gets the request body limit, the outermost layer, and then the admission of at most
WEB_REQUESTS_AT_ONCE HTTP requests at once, of them at most WEB_UPLOADS_AT_ONCE uploads when set
(comfyweb.core.admission).
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comfyweb.settings")

from comfyweb.core.startup import refuse_unsafe_start

# A bare ASGI server runs no system checks: refuse the development secret key here, before anything is served.
refuse_unsafe_start()
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application() does before making its handler

from comfyweb.core.requestthreads import KeptThreadsASGIHandler  # noqa: E402

# Django's handler, with each request's thread kept for the next ones (comfyweb.core.requestthreads).
django_asgi_app = KeptThreadsASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import CookieMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402

from comfyweb.core.admission import AdmissionMiddleware  # noqa: E402
from comfyweb.core.bodylimit import BodyLimitMiddleware  # noqa: E402
from comfyweb.jobs.relay.routing import websocket_urlpatterns  # noqa: E402

application = BodyLimitMiddleware(
    AdmissionMiddleware(
        ProtocolTypeRouter(
            {
                "http": django_asgi_app,
                # The cookies only: the job consumer reads the session with the job it asks for, in one query.
                "websocket": AllowedHostsOriginValidator(CookieMiddleware(URLRouter(websocket_urlpatterns))),
            }
        ),
        limit=lambda: settings.WEB_REQUESTS_AT_ONCE,
        upload_limit=lambda: settings.WEB_UPLOADS_AT_ONCE,
    ),
    max_bytes=lambda: settings.REQUEST_MAX_BYTES,
)
