"""Routes of the job endpoints, included under /api/v1/ by comfyweb.api_urls."""

from __future__ import annotations

from django.urls import path

from comfyweb.jobs.api import views

urlpatterns = [
    path("jobs/", views.JobListCreateView.as_view(), name="job-list"),
    path("jobs/<uuid:pk>/", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<uuid:pk>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<uuid:pk>/outputs/<int:output_id>/", views.JobOutputView.as_view(), name="job-output"),
]
