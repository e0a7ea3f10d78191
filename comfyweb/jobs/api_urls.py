"""REST API routes under /api/v1/."""

from __future__ import annotations

urlpatterns: list = []
