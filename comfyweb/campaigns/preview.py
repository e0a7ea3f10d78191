"""The admin's preview of a draft template, drawn by the visitor page's own templates, steps and CSS.

Installed into the catalog (`catalog.preview.use_visitor_preview`) by `CampaignsConfig.ready()`: the
catalog's admin builds the preview and runs the test, this draws them as visitors would see the page.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.conf import settings
from django.shortcuts import render

from comfyweb.campaigns import services
from comfyweb.campaigns.steps import group_fields, visitor_params
from comfyweb.catalog.preview import VisitorPreview


class VisitorPagePreview(VisitorPreview):
    def form(self, draft, *, data=None, files=None, options_resolver=None):
        """The form of the template page: texts in the operator's language, step markers out of the titles."""
        shown = SimpleNamespace(prompt=draft.prompt, params=visitor_params(draft))
        form = super().form(shown, data=data, files=files, options_resolver=options_resolver)
        form.shown_params = shown.params
        return form

    def render(self, request, draft, form, context):
        quantity = context.get("quantity") or 1
        return render(
            request,
            "campaigns/preview.html",
            {
                **context,
                "workflow_template": draft,
                "form": form,
                "groups": group_fields(form, form.shown_params) if form is not None else [],
                "quantity": quantity,
                "quantities": range(services.MIN_QUANTITY, settings.JOB_MAX_QUANTITY + 1),
            },
            status=context.get("status", 200),
        )
