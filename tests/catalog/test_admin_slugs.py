"""The slug proposed while an operator types a title (catalog.admin.slugs)."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from comfyweb.catalog.admin.slugs import slug_preview_view
from comfyweb.catalog.models import WorkflowTemplate

pytestmark = pytest.mark.django_db


def preview(**query) -> str:
    response = slug_preview_view(RequestFactory().get("/admin/catalog/workflowtemplate/slug/", query))
    assert response.status_code == 200
    return json.loads(response.content)["slug"]


def test_a_chinese_title_gets_its_pinyin_and_a_free_slug(core_prompt):
    assert preview(title="负片效果") == "fu-pian-xiao-guo"
    template = WorkflowTemplate.objects.create(title="负片效果", slug="fu-pian-xiao-guo", prompt=core_prompt)
    assert preview(title="负片效果") == "fu-pian-xiao-guo-2"
    assert preview(title="负片效果", pk=str(template.pk)) == "fu-pian-xiao-guo"  # its own slug is not taken
    assert preview(title="") == "template"
