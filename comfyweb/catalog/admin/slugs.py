"""The slug the admin proposes while an operator types a title: ASCII, pinyin for Chinese (catalog.slugs).

Django's `prepopulated_fields` slugifies in the browser (urlify.js), which keeps Chinese characters; this
view gives the server's `slugify_title` instead, unique among templates. Wired by the admin (staff only):

    path("slug/", self.admin_site.admin_view(slug_preview_view), name="catalog_workflowtemplate_slug")

and static/js/admin-template-slug.js fills the slug field from it until the operator edits the slug.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.slugs import unique_slug

MAX_TITLE = 200


@require_GET
def slug_preview_view(request: HttpRequest) -> JsonResponse:
    """GET ?title=…[&pk=…] → {"slug": "…"}: the title's slug, not taken by another template."""
    title = request.GET.get("title", "")[:MAX_TITLE]
    others = WorkflowTemplate.objects.all()
    if request.GET.get("pk", "").isdigit():
        others = others.exclude(pk=int(request.GET["pk"]))
    return JsonResponse({"slug": unique_slug(title, lambda slug: others.filter(slug=slug).exists())})
