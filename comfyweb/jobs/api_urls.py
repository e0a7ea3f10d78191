"""REST API routes under /api/v1/ (namespace "jobs_api"), its OpenAPI schema and docs page."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from comfyweb.jobs import api

app_name = "jobs_api"

urlpatterns = [
    path("workflows/", api.WorkflowListView.as_view(), name="workflow-list"),
    path("workflows/<str:slug>/", api.WorkflowDetailView.as_view(), name="workflow-detail"),
    path("jobs/", api.JobListCreateView.as_view(), name="job-list"),
    path("jobs/<uuid:pk>/", api.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<uuid:pk>/cancel/", api.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<uuid:pk>/outputs/<int:output_id>/", api.JobOutputView.as_view(), name="job-output"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="jobs_api:schema"), name="docs"),
]
