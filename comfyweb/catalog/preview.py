"""The visitor form of a template that is not published yet (a draft), as the admin previews it.

The catalog builds the form (`build_template_form`), but the pages visitors see (their templates, steps
and CSS) belong to the campaigns app above it. So the admin asks `visitor_preview()`, which the site's
pages install with `use_visitor_preview()` when they start (`CampaignsConfig.ready()`); until then, a
plain rendering of the form stands in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.csp import CSP

from comfyweb.catalog.forms import TemplateForm, build_template_form
from comfyweb.catalog.translations import Localized


@dataclass
class Draft:
    """A template's content as the editor has it (saved or not): what the preview shows and a test run runs."""

    title: str = ""
    description: str = ""
    cover: str = ""
    prompt: dict = field(default_factory=dict)
    params: list = field(default_factory=list)
    translations: dict = field(default_factory=dict)

    @property
    def i18n(self) -> Localized:
        return Localized(self, ("title", "description"))

    def content(self) -> dict:
        return {
            "title": self.title,
            "description": self.description,
            "cover": self.cover,
            "prompt": self.prompt,
            "params": self.params,
            "translations": self.translations,
        }

    def hidden_fields(self) -> list[tuple[str, str]]:
        """(name, value) of the inputs that carry the draft along with the visitor's values (a test run)."""
        return [
            ("title", self.title),
            ("description", self.description),
            ("cover", self.cover),
            ("prompt", json.dumps(self.prompt, ensure_ascii=False)),
            ("params", json.dumps(self.params, ensure_ascii=False)),
            ("translations", json.dumps(self.translations, ensure_ascii=False)),
        ]


class VisitorPreview:
    """Builds a draft's visitor form and draws the preview page. This stand-in draws the bare form."""

    def form(self, draft: Draft, *, data=None, files=None, options_resolver=None) -> TemplateForm:
        return build_template_form(draft, data=data, files=files, options_resolver=options_resolver)

    def render(self, request: HttpRequest, draft: Draft, form: TemplateForm | None, context: dict) -> HttpResponse:
        context = {**context, "draft": draft, "form": form}
        return TemplateResponse(request, "admin/catalog/workflowtemplate/preview.html", context)


_preview = VisitorPreview()


def use_visitor_preview(preview: VisitorPreview | None) -> None:
    """Install how drafts are shown as visitors see them (the campaigns app does so when it starts)."""
    global _preview
    _preview = preview or VisitorPreview()


def visitor_preview() -> VisitorPreview:
    return _preview


def framable_by_this_site(response: HttpResponse) -> HttpResponse:
    """Let the admin's editor show `response` in a frame of its own page (and no other site's)."""
    response["X-Frame-Options"] = "SAMEORIGIN"
    response._csp_config = {**settings.SECURE_CSP, "frame-ancestors": [CSP.SELF]}
    return response
