"""The OpenAPI schema and the Swagger UI page, served by this site (no CDN)."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

JOB_ROUTES = {
    "/api/v1/workflows/": {"get"},
    "/api/v1/workflows/{slug}/": {"get"},
    "/api/v1/jobs/": {"get", "post"},
    "/api/v1/jobs/{id}/": {"get"},
    "/api/v1/jobs/{id}/cancel/": {"post"},
    "/api/v1/jobs/{id}/outputs/{output_id}/": {"get"},
}


def test_the_schema_is_valid_openapi_with_every_job_route(api):
    response = api.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()} == JOB_ROUTES
    create = schema["paths"]["/api/v1/jobs/"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"201", "400", "429"} <= set(create["responses"])
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_the_docs_page_loads_swagger_ui_from_this_site(api, client):
    response = api.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/schema/" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in a for a in assets)
    assert all(a.startswith("/") for a in assets), f"an asset from elsewhere: {assets}"
    bundle = next(a for a in assets if "swagger-ui-bundle.js" in a)
    assert client.get(bundle).status_code == 200
