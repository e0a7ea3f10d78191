"""/api/ and /api/v1/ point people to the API's documentation page."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/", "/api/v1/"])
def test_the_api_roots_redirect_to_the_docs(client, path):
    answer = client.get(path)
    assert answer.status_code == 302
    assert answer["Location"] == "/api/v1/docs/"
    assert client.get(answer["Location"]).status_code == 200
