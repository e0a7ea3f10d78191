"""Drafts and versions: the admin edits a draft, visitors see the published version until "Publish", earlier
versions can be viewed and restored, jobs keep the version they ran with."""

from __future__ import annotations

import copy
import json

import pytest
from django.urls import reverse

from comfyweb.catalog import drafts
from comfyweb.catalog.models import TemplateVersion, WorkflowTemplate
from comfyweb.jobs.models import Job
from comfyweb.jobs.services import create_jobs

ADD_URL = "/admin/catalog/workflowtemplate/add/"


@pytest.fixture
def operator(admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client


@pytest.fixture
def published(db, core_prompt, core_params) -> WorkflowTemplate:
    return WorkflowTemplate.objects.create(
        title="Colour test", slug="colour-test", prompt=core_prompt, params=core_params
    )


def change_url(template) -> str:
    return f"/admin/catalog/workflowtemplate/{template.pk}/change/"


def editor_post(template_or_none, prompt, params, **extra) -> dict:
    data = {
        "title": "Colour test",
        "slug": "colour-test",
        "description": "",
        "cover": "",
        "notes": "",
        "prompt": json.dumps(prompt),
        "params": json.dumps(params),
        "translations": "{}",
        "enabled": "on",
        "ordering": "0",
        "_continue": "Save draft",
    }
    data.update(extra)
    return data


def test_a_template_saved_in_code_or_imported_is_published_as_version_1(published):
    assert published.is_visible and published.version == 1 and published.published_at is not None
    [version] = published.versions.all()
    assert (version.number, version.prompt, version.params) == (1, published.prompt, published.params)
    assert version.published_at == published.published_at


def test_a_new_template_from_the_admin_is_a_draft_nobody_sees(operator, client, core_prompt, core_params):
    response = operator.post(ADD_URL, editor_post(None, core_prompt, core_params))
    template = WorkflowTemplate.objects.get()
    assert response.status_code == 302 and response["Location"] == change_url(template), "back to the editor"
    assert template.published_at is None and template.version == 0 and not template.is_visible
    assert drafts.draft_of(template).params == core_params
    assert client.get("/t/colour-test/").status_code == 404
    assert all(w["slug"] != "colour-test" for w in client.get("/api/v1/workflows/").json())
    assert "colour-test" not in client.get("/").content.decode()
    messages = [str(m) for m in operator.get(change_url(template)).context["messages"]]
    assert any("Visitors do not see it until you publish it" in m for m in messages)


def test_editing_saves_a_draft_and_visitors_keep_the_published_version(operator, client, published, core_params):
    edited = copy.deepcopy(core_params)
    edited[0]["title"] = "Your picture"
    response = operator.post(
        change_url(published), editor_post(published, published.prompt, edited, title="Colour test, new")
    )
    assert response.status_code == 302
    published.refresh_from_db()
    assert published.title == "Colour test" and published.params == core_params and published.version == 1
    draft = drafts.draft_of(published)
    assert draft.title == "Colour test, new" and draft.params == edited and draft.number is None
    page = client.get("/t/colour-test/").content.decode()
    assert "Colour test, new" not in page and "Your picture" not in page and "Photo" in page
    [listed] = [w for w in client.get("/api/v1/workflows/").json() if w["slug"] == "colour-test"]
    assert listed["title"] == "Colour test" and listed["version"] == 1
    job = create_jobs(template=published, values={}, session_key="v")[0]
    assert job.template_version == 1 and job.params == core_params

    html = operator.get(change_url(published)).content.decode()
    assert 'value="Colour test, new"' in html and "Your picture" in html, "the editor shows the draft"
    assert "You are editing a draft saved" in html


def test_publishing_makes_the_draft_what_visitors_see_and_jobs_keep_their_version(
    operator, client, published, core_params
):
    old_job = create_jobs(template=published, values={}, session_key="v")[0]
    edited = copy.deepcopy(core_params)
    edited[0]["title"] = "Your picture"
    response = operator.post(
        change_url(published), editor_post(published, published.prompt, edited, _publish="Publish")
    )
    assert response.status_code == 302
    published.refresh_from_db()
    assert published.version == 2 and published.params == edited and drafts.draft_of(published) is None
    assert list(published.versions.order_by("number").values_list("number", flat=True)) == [1, 2]
    assert published.versions.get(number=2).published_by.is_superuser
    assert "Your picture" in client.get("/t/colour-test/").content.decode()
    new_job = create_jobs(template=published, values={}, session_key="v")[0]
    old_job.refresh_from_db()
    assert (old_job.template_version, old_job.params) == (1, core_params)
    assert (new_job.template_version, new_job.params) == (2, edited)


def test_a_text_only_change_published_is_a_new_version_too(operator, published):
    data = editor_post(published, published.prompt, published.params, description="Now with words", _publish="P")
    operator.post(change_url(published), data)
    published.refresh_from_db()
    assert published.version == 2 and published.description == "Now with words"


def test_saving_what_is_published_leaves_no_draft(operator, published):
    operator.post(change_url(published), editor_post(published, published.prompt, published.params))
    assert drafts.draft_of(published) is None
    assert published.versions.count() == 1


def test_publish_switches_a_switched_off_template_on(operator, client, published):
    WorkflowTemplate.objects.filter(pk=published.pk).update(enabled=False)
    assert client.get("/t/colour-test/").status_code == 404
    operator.post(change_url(published), editor_post(published, published.prompt, published.params, _publish="P"))
    published.refresh_from_db()
    assert published.enabled and published.version == 1, "nothing changed: the same version, switched on"
    assert client.get("/t/colour-test/").status_code == 200


def test_enabling_an_unpublished_template_in_the_list_does_not_publish_it(operator, client, core_prompt, core_params):
    operator.post(ADD_URL, editor_post(None, core_prompt, core_params, enabled=""))
    template = WorkflowTemplate.objects.get()
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(template.pk),
        "form-0-enabled": "on",
        "form-0-ordering": "3",
        "_save": "Save",
    }
    operator.post("/admin/catalog/workflowtemplate/", data)
    template.refresh_from_db()
    assert template.enabled and template.ordering == 3 and template.published_at is None
    assert client.get("/t/colour-test/").status_code == 404


def test_discarding_the_draft_shows_the_published_version_again(operator, published):
    operator.post(change_url(published), editor_post(published, published.prompt, published.params, title="Changed"))
    assert drafts.draft_of(published) is not None
    html = operator.get(change_url(published)).content.decode()
    assert "Discard the draft" in html
    response = operator.post(reverse("admin:catalog_workflowtemplate_discard", args=[published.pk]))
    assert response.status_code == 302 and drafts.draft_of(published) is None
    assert 'value="Colour test"' in operator.get(change_url(published)).content.decode()


def test_earlier_versions_are_listed_viewed_and_restored_as_the_draft(operator, client, published, core_params):
    edited = copy.deepcopy(core_params)
    edited[0]["title"] = "Version two"
    operator.post(change_url(published), editor_post(published, published.prompt, edited, _publish="P"))
    published.refresh_from_db()

    listing = operator.get(reverse("admin:catalog_workflowtemplate_versions", args=[published.pk])).content.decode()
    assert (
        "what visitors see" in listing
        and reverse("admin:catalog_workflowtemplate_version", args=[published.pk, 1]) in listing
    )
    first = operator.get(reverse("admin:catalog_workflowtemplate_version", args=[published.pk, 1])).content.decode()
    assert "An earlier version" in first and "&quot;Photo&quot;" in first and "Restore this version" in first
    preview = operator.get(reverse("admin:catalog_workflowtemplate_preview", args=[published.pk]) + "?version=1")
    assert "Photo" in preview.content.decode() and "Version two" not in preview.content.decode()

    response = operator.post(reverse("admin:catalog_workflowtemplate_restore", args=[published.pk, 1]))
    assert response.status_code == 302
    published.refresh_from_db()
    assert published.version == 2 and published.params == edited, "visitors still see version 2"
    assert drafts.draft_of(published).params == core_params
    assert "Version two" in client.get("/t/colour-test/").content.decode()

    operator.post(change_url(published), editor_post(published, published.prompt, core_params, _publish="P"))
    published.refresh_from_db()
    assert published.version == 3 and published.params == core_params
    assert published.versions.filter(published_at__isnull=False).count() == 3


def test_restoring_the_version_visitors_see_makes_no_draft(operator, published):
    operator.post(reverse("admin:catalog_workflowtemplate_restore", args=[published.pk, 1]))
    assert drafts.draft_of(published) is None


def test_only_one_draft_per_template(published):
    drafts.save_draft(published, {**drafts.content_of(published), "title": "A"})
    drafts.save_draft(published, {**drafts.content_of(published), "title": "B"})
    assert TemplateVersion.objects.filter(template=published, published_at__isnull=True).get().title == "B"


def test_a_reimport_publishes_and_leaves_the_draft_alone(published, core_params):
    drafts.save_draft(published, {**drafts.content_of(published), "title": "Being edited"})
    published.params = core_params[:1]
    published.save()
    assert published.version == 2 and drafts.draft_of(published).title == "Being edited"


def test_the_change_list_says_where_each_template_stands(operator, published, core_prompt, core_params):
    operator.post(ADD_URL, editor_post(None, core_prompt, core_params, slug="new-one"))
    drafts.save_draft(published, {**drafts.content_of(published), "title": "Edited"})
    html = operator.get("/admin/catalog/workflowtemplate/").content.decode()
    assert "version 1 + draft" in html and ">draft<" in html


def test_jobs_of_a_deleted_template_keep_what_they_ran(published):
    job = create_jobs(template=published, values={}, session_key="v")[0]
    published.delete()
    job = Job.objects.get(pk=job.pk)
    assert job.template is None and job.template_version == 1 and job.prompt
