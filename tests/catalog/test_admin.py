"""Operators' admin: paste, import, errors naming panels, preview, backend report, publish override, try it."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job
from tests.catalog.conftest import WORKFLOWS_DIR, picture

ADD_URL = "/admin/catalog/workflowtemplate/add/"


@pytest.fixture
def operator(admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client


def form_data(prompt, params, **extra) -> dict:
    data = {
        "title": "Colour test",
        "slug": "colour-test",
        "description": "",
        "cover": "",
        "prompt": prompt if isinstance(prompt, str) else json.dumps(prompt),
        "params": params if isinstance(params, str) else json.dumps(params),
        "enabled": "on",
        "ordering": "0",
    }
    data.update(extra)
    return data


def page(response) -> str:
    return response.content.decode()


def test_adding_a_valid_template(operator, core_prompt, core_params):
    response = operator.post(ADD_URL, form_data(core_prompt, core_params))
    assert response.status_code == 302, page(response)
    template = WorkflowTemplate.objects.get(slug="colour-test")
    assert template.prompt == core_prompt and template.params == core_params


def test_a_wrapped_api_export_is_accepted(operator, core_prompt, core_params):
    response = operator.post(ADD_URL, form_data({"prompt": core_prompt, "client_id": "x"}, core_params))
    assert response.status_code == 302, page(response)
    assert WorkflowTemplate.objects.get().prompt == core_prompt


def test_invalid_json_is_refused_next_to_the_field(operator, core_params):
    response = operator.post(ADD_URL, form_data('{"1": {"class_type": ', core_params))
    assert response.status_code == 200
    assert "Enter a valid JSON." in page(response)
    assert not WorkflowTemplate.objects.exists()


def test_invalid_panels_are_refused_with_panel_and_reason(operator, core_prompt, core_params):
    core_params[1]["children"][1]["min"] = 5
    response = operator.post(ADD_URL, form_data(core_prompt, core_params))
    assert response.status_code == 200
    html = page(response)
    assert "#4 Strength (number 4.blend_factor): min is greater than max." in html
    assert not WorkflowTemplate.objects.exists()


def test_a_broken_prompt_graph_is_refused_on_the_prompt_field(operator, core_prompt, core_params):
    core_prompt["5"]["inputs"]["images"] = ["9", 0]
    html = page(operator.post(ADD_URL, form_data(core_prompt, core_params)))
    assert "node 5: input images links to node 9, which is not in the prompt." in html
    assert not WorkflowTemplate.objects.exists()


def test_the_change_page_shows_the_backend_report_and_the_form_preview(
    operator, emulator_backend, core_prompt, core_params
):
    core_prompt["4"]["class_type"] = "FancyBlend"
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    html = page(operator.get(f"/admin/catalog/workflowtemplate/{template.pk}/change/"))
    assert "<b>emulator</b>: 1 problem:" in " ".join(html.split())
    assert "4 (FancyBlend): this backend has no such node type (missing custom node?)." in html
    assert 'name="1.image"' in html and 'name="4.blend_factor"' in html, "the end-user form is previewed inline"
    assert "Preview unsaved changes" in html


def test_a_clean_template_reports_ok(operator, emulator_backend, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    html = page(operator.get(f"/admin/catalog/workflowtemplate/{template.pk}/change/"))
    assert "<b>emulator</b>: OK: every node, model and value is available" in " ".join(html.split())


def test_an_unreachable_backend_is_said_plainly(operator, core_prompt, core_params):
    from comfyweb.jobs.models import GpuBackend
    from tests.conftest import free_port

    GpuBackend.objects.create(name="gpu-down", url=f"http://127.0.0.1:{free_port()}", kind="agent")
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    html = page(operator.get(f"/admin/catalog/workflowtemplate/{template.pk}/change/"))
    assert "<b>gpu-down</b>: unreachable, could not check:" in " ".join(html.split())


def test_publishing_with_backend_problems_needs_the_override(operator, emulator_backend, core_prompt, core_params):
    core_prompt["4"]["inputs"]["blend_mode"] = "burn"
    core_params[1]["children"][0]["options"] = ["burn", "screen"]
    response = operator.post(ADD_URL, form_data(core_prompt, core_params, _publish="Publish"))
    html = page(response)
    assert response.status_code == 200
    assert "A GPU backend cannot run this template." in html
    assert "emulator: 4 (ImageBlend): blend_mode=&#x27;burn&#x27; is not offered by this backend" in html
    assert not WorkflowTemplate.objects.exists()
    response = operator.post(ADD_URL, form_data(core_prompt, core_params, publish_anyway="on", _publish="Publish"))
    assert response.status_code == 302
    template = WorkflowTemplate.objects.get()
    assert template.enabled and template.is_visible and template.version == 1


def test_a_draft_is_saved_without_the_backend_check_and_stays_unseen(
    operator, emulator_backend, core_prompt, core_params
):
    core_prompt["4"]["class_type"] = "FancyBlend"
    assert operator.post(ADD_URL, form_data(core_prompt, core_params)).status_code == 302
    template = WorkflowTemplate.objects.get()
    assert template.published_at is None and not template.is_visible
    response = operator.post(
        f"/admin/catalog/workflowtemplate/{template.pk}/change/",
        form_data(core_prompt, core_params, _publish="Publish"),
    )
    assert "A GPU backend cannot run this template." in page(response)
    template.refresh_from_db()
    assert template.published_at is None


def test_enabling_from_the_list_is_checked_too(operator, emulator_backend, core_prompt, core_params):
    core_prompt["4"]["class_type"] = "FancyBlend"
    template = WorkflowTemplate.objects.create(
        title="t", slug="t", prompt=core_prompt, params=core_params, enabled=False
    )
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(template.pk),
        "form-0-enabled": "on",
        "form-0-ordering": "0",
        "_save": "Save",
    }
    response = operator.post("/admin/catalog/workflowtemplate/", data)
    assert "A GPU backend cannot run this template." in page(response)
    template.refresh_from_db()
    assert not template.enabled


def test_importing_a_workflows_file(operator):
    upload = SimpleUploadedFile("core-image.json", (WORKFLOWS_DIR / "core-image.json").read_bytes())
    response = operator.post("/admin/catalog/workflowtemplate/import/", {"file": upload}, follow=True)
    assert "Imported 2 template(s): poster-frame, colour-pop" in page(response)
    assert set(WorkflowTemplate.objects.values_list("slug", flat=True)) == {"poster-frame", "colour-pop"}


def test_importing_a_bad_file_shows_why(operator, couple_template):
    not_json = SimpleUploadedFile("x.json", b"\xff\xfe garbage")
    assert "x.json is not valid JSON" in page(
        operator.post("/admin/catalog/workflowtemplate/import/", {"file": not_json})
    )
    couple_template["params"][0]["children"][0]["key"] = "picture"
    bad = SimpleUploadedFile("x.json", json.dumps([couple_template]).encode())
    html = page(operator.post("/admin/catalog/workflowtemplate/import/", {"file": bad}))
    assert "template 1 (破次元壁合照): #2 参考图 (image 10.picture): node 10 (LoadImage) has no input picture." in html
    assert not WorkflowTemplate.objects.exists()


def test_the_changelist_links_to_the_import(operator):
    assert "/admin/catalog/workflowtemplate/import/" in page(operator.get("/admin/catalog/workflowtemplate/"))


def test_the_preview_renders_the_end_user_form(operator, couple_template):
    template = WorkflowTemplate.objects.create(
        title="t", slug="t", prompt=couple_template["prompt"], params=couple_template["params"]
    )
    response = operator.get(reverse("admin:catalog_workflowtemplate_preview", args=[template.pk]) + "?language=en")
    html = page(response)
    assert "参考图" in html and 'type="file"' in html and html.count('name="11.image"') == 7
    assert "Run a test" in html and 'class="steps"' in html, "drawn like the visitor page, with a test run"
    assert (
        response["X-Frame-Options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in response["Content-Security-Policy"]
    )


def test_trying_the_preview_form_creates_a_test_job(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    url = reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    data = {"4.blend_mode": "screen", "4.blend_factor": "0.2", "2.width": "128", "5.filename_prefix": "try"}
    data["1.image"] = SimpleUploadedFile("me.png", picture("PNG"), "image/png")
    data["_test_run"] = "1"
    response = operator.post(url, data)
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.id}/"
    assert job.prompt["4"]["inputs"]["blend_mode"] == "screen"
    assert job.prompt["1"]["inputs"]["image"].startswith("data:image/jpeg;base64,"), "re-encoded without alpha"
    assert job.owner.is_superuser and job.template_version == template.version, "the published version ran"


def test_a_bad_upload_in_the_preview_is_an_error_and_no_job(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    url = reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    response = operator.post(
        url, {"1.image": SimpleUploadedFile("me.jpg", b"hello"), "_test_run": "1", "_language": "en"}
    )
    assert "not an image we can read" in page(response)
    assert not Job.objects.exists()


def test_the_live_preview_shows_unsaved_changes(operator, core_prompt, core_params):
    url = reverse("admin:catalog_workflowtemplate_live_preview")
    response = operator.post(url, form_data(core_prompt, core_params, title="Draft", _language="en"))
    html = page(response)
    assert "Preview: Draft" in html and 'name="4.blend_mode"' in html
    core_params[0]["id"] = "42"
    html = page(operator.post(url, form_data(core_prompt, core_params, _language="en")))
    assert "Visitors could not use this template yet" in html and "node 42 is not in the prompt." in html
    assert "Not valid JSON" in page(operator.post(url, form_data("{", core_params, _language="en")))


def test_the_try_it_action_submits_a_job_with_defaults_and_a_sample_photo(operator, couple_template):
    template = WorkflowTemplate.objects.create(
        title="合照", slug="couple", prompt=couple_template["prompt"], params=couple_template["params"]
    )
    response = operator.post(
        "/admin/catalog/workflowtemplate/",
        {"action": "try_it", "_selected_action": [str(template.pk)]},
        follow=True,
    )
    job = Job.objects.get()
    assert f"/jobs/{job.id}/" in page(response)
    assert job.template == template and job.template_version == template.version
    assert job.prompt["11"]["inputs"]["image"] == couple_template["prompt"]["11"]["inputs"]["image"]
    assert job.prompt["10"]["inputs"]["image"].startswith("https://"), "the seed's default photo is usable"
    assert set(job.seeds) == set()


def test_try_it_uploads_a_sample_photo_where_the_visitor_must(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    operator.post("/admin/catalog/workflowtemplate/", {"action": "try_it", "_selected_action": [str(template.pk)]})
    assert Job.objects.get().prompt["1"]["inputs"]["image"].startswith("data:image/jpeg;base64,")


def test_the_add_page_renders_in_both_languages(admin_client):
    html = page(admin_client.get(ADD_URL, HTTP_ACCEPT_LANGUAGE="en"))
    assert "Publish despite backend problems" in html and "Preview unsaved changes" in html
    html = page(admin_client.get(ADD_URL, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert "忽略后端问题并发布" in html and "预览未保存的修改" in html
