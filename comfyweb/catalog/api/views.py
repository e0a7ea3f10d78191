"""The REST API's workflow endpoints (/api/v1/workflows/): the enabled templates and the values they take."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView, RetrieveAPIView

from comfyweb.catalog.api.serializers import WorkflowSerializer
from comfyweb.catalog.backends_check import backends_options_resolver
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.core.api_auth import VisitorAPIMixin


@extend_schema(tags=["workflows"], summary="List the enabled workflows and the values each takes")
class WorkflowListView(VisitorAPIMixin, ListAPIView):
    """Each workflow with the values it takes: "fields" (names, types, defaults, choices, bounds)."""

    serializer_class = WorkflowSerializer
    pagination_class = None
    queryset = WorkflowTemplate.objects.visible()

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "options_resolver": backends_options_resolver()}


@extend_schema(tags=["workflows"], summary="One enabled workflow")
class WorkflowDetailView(VisitorAPIMixin, RetrieveAPIView):
    """The workflow with the values it takes (404 for an unknown or disabled one)."""

    serializer_class = WorkflowSerializer
    queryset = WorkflowTemplate.objects.visible()
    lookup_field = "slug"

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "options_resolver": backends_options_resolver()}
