"""Operators' admin for workflow templates: import, edit as a draft, preview live, test, publish, versions.

`options` holds the ModelAdmin (registered on import), `forms` its forms, `views` the studio's own pages
(the editor's redraws, the live preview and its test runs, versions), `status` what it says about where a
template stands, `slugs` the slug proposed while a title is typed. The jobs app extends the ModelAdmin with
test runs (jobs/admin/test_runs.py).
"""

from comfyweb.catalog.admin.options import WorkflowTemplateAdmin

__all__ = ["WorkflowTemplateAdmin"]
