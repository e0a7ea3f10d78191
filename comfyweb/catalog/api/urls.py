"""Routes of the workflow endpoints, included under /api/v1/ by comfyweb.api_urls."""

from __future__ import annotations

from django.urls import path

from comfyweb.catalog.api import views

urlpatterns = [
    path("workflows/", views.WorkflowListView.as_view(), name="workflow-list"),
    path("workflows/<str:slug>/", views.WorkflowDetailView.as_view(), name="workflow-detail"),
]
