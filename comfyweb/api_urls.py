"""The REST API under /api/v1/ (namespace "api"): the catalog's and the jobs' routes, the schema and its docs."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from comfyweb.catalog.api.urls import urlpatterns as workflow_urls
from comfyweb.jobs.api.urls import urlpatterns as job_urls

app_name = "api"

urlpatterns = [
    *workflow_urls,
    *job_urls,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
