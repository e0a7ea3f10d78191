"""GET /api/v1/workflows/: the enabled templates and the values each takes, as the form sees them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_lists_only_enabled_workflows_with_slug_title_and_cover(api, shipped_workflows):
    shipped_workflows["colour-pop"].enabled = False
    shipped_workflows["colour-pop"].save()
    response = api.get("/api/v1/workflows/")
    assert response.status_code == 200
    by_slug = {w["slug"]: w for w in response.json()}
    assert set(by_slug) == set(shipped_workflows) - {"colour-pop"}
    poster = by_slug["poster-frame"]
    assert poster["title"] == shipped_workflows["poster-frame"].title
    assert poster["description"] == shipped_workflows["poster-frame"].description
    assert poster["cover_url"] == "http://testserver/static/workflows/poster-frame-cover.png"
    assert poster["version"] == shipped_workflows["poster-frame"].version


def test_fields_describe_types_defaults_choices_and_bounds(api, poster):
    fields = {f["name"]: f for f in api.get("/api/v1/workflows/poster-frame/").json()["fields"]}
    assert list(fields) == ["1.image", "3.color", "4.value"]
    photo = fields["1.image"]
    assert (photo["type"], photo["required"], photo["default"], photo["options"]) == ("image", True, None, [])
    assert photo["title"] == "照片" and photo["group"] is None
    color = fields["3.color"]
    assert color["type"] == "select" and color["required"] is False
    assert color["options"] == [13111342, 16777215, 1118481, 2658932, 16766720], "numbers stay numbers"
    assert color["labels"][0] == "中国红"
    assert color["default"] == poster.prompt["3"]["inputs"]["color"]
    opacity = fields["4.value"]
    assert (opacity["min"], opacity["max"], opacity["step"]) == (0.3, 1.0, 0.05)
    assert opacity["default"] == 1.0


def test_a_gallery_lists_its_pictures_and_groups_name_their_step(api, couple):
    fields = {f["name"]: f for f in api.get("/api/v1/workflows/couple-photo/").json()["fields"]}
    character = fields["11.image"]
    assert character["options"][0] == "/static/characters/百里东君.png"
    assert len(character["options"]) == 7
    assert fields["10.image"]["group"] == "上传您的照片"
    assert fields["24.text"]["type"] == "string" and fields["24.text"]["required"] is False
    hidden = [p for p in couple.params if isinstance(p, dict) and p.get("hidden")]
    assert all(f"{p['id']}.{p['key']}" not in fields for p in hidden)


def test_an_unknown_or_disabled_workflow_is_404(api, poster):
    assert api.get("/api/v1/workflows/nope/").status_code == 404
    poster.enabled = False
    poster.save()
    assert api.get("/api/v1/workflows/poster-frame/").status_code == 404
