"""WebSocket routes of the web role."""

from __future__ import annotations

from django.urls import path

from comfyweb.jobs.relay.consumers import JobConsumer

websocket_urlpatterns = [path("ws/jobs/<uuid:job_id>/", JobConsumer.as_asgi())]
