"""The admin's editor of visitor fields: cards drawn from params and proposals, the operations that redraw
them, the live preview in the visitor page's look, and test runs of a draft (chosen backend, version 0)."""

from __future__ import annotations

import copy
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from comfyweb.catalog import drafts
from comfyweb.catalog.editor import apply_operation, build_cards, iter_cards, other_inputs, render_editor
from comfyweb.catalog.forms import UPLOAD_SUFFIX, build_template_form
from comfyweb.catalog.importing import recorded_object_info
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import GpuBackend, Job
from tests.catalog.conftest import draft, picture

EDITOR_URL = "/admin/catalog/workflowtemplate/editor/"
LIVE_PREVIEW_URL = "/admin/catalog/workflowtemplate/preview/"


@pytest.fixture
def operator(admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client


@pytest.fixture
def info() -> dict:
    return recorded_object_info()


@pytest.fixture
def txt2img() -> dict:
    """An API prompt as ComfyUI's "Save (API)" writes it: a photo, two texts, a sampler."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "10": {"class_type": "LoadImage", "inputs": {"image": "example.png", "upload": "image"}},
        "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 42,
                "steps": 20,
                "cfg": 7.5,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 0.6,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["11", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "studio"}},
    }


def names(cards, *, exposed=None) -> list[str]:
    return [c.name for c in iter_cards(cards) if c.kind == "field" and (exposed is None or c.exposed == exposed)]


def test_cards_follow_the_params_then_offer_the_proposals_left(core_prompt, core_params, info):
    cards = build_cards(core_prompt, core_params, info)
    assert [c.kind for c in cards][:3] == ["field", "step", "field"], "a loose field, then the group as a step"
    in_step = [c.name for c in cards[1].children]
    assert in_step == ["4.blend_mode", "4.blend_factor", "2.width"], "the step holds its fields"
    assert names(cards, exposed=True) == [
        "1.image",
        "4.blend_mode",
        "4.blend_factor",
        "2.width",
        "5.filename_prefix",
        "3.color",
    ]
    assert cards[1].panel["title"] == "Style"
    assert cards[2].kind == "field", "a loose field after a step stands on its own"


def test_nested_groups_are_steps_inside_steps(core_prompt, core_params, info):
    style = core_params[1]
    inner = {"type": "group", "title": "Fine tuning", "children": style["children"][1:]}
    style["children"][1:] = [inner]
    cards = build_cards(core_prompt, core_params, info)
    [nested] = [c for c in cards[1].children if c.kind == "step"]
    assert nested.panel["title"] == "Fine tuning"
    assert [c.name for c in nested.children] == ["4.blend_factor", "2.width"]
    html = render_editor(core_prompt, core_params, info)
    outer = html.index('value="Style"')
    assert outer < html.index('value="Fine tuning"') < html.index('data-name="4.blend_factor"')
    assert html.count('class="studio-items"') >= 3, "the editor's list, the step's, and the nested step's"


def test_a_new_field_goes_into_the_step_just_added(txt2img, info):
    params = [
        {"type": "group", "title": "Photo", "children": [{"type": "string", "id": "6", "key": "text"}]},
        {"type": "group", "title": "Finishing", "children": []},
    ]
    apply_operation(txt2img, params, "add", "3.steps", "", info)
    assert params[1]["title"] == "Finishing" and [p["key"] for p in params[1]["children"]] == ["steps"]
    assert len(params[0]["children"]) == 1, "not into the step above"
    cards = build_cards(txt2img, params, info)
    assert cards[1].panel["title"] == "Finishing" and [c.name for c in cards[1].children] == ["3.steps"]


def test_proposals_not_used_yet_come_unticked_with_their_reason(txt2img, info):
    cards = build_cards(txt2img, [], info)
    unused = {c.name: c for c in cards if not c.exposed}
    assert {"10.image", "6.text", "3.seed", "3.steps", "3.denoise"} <= set(unused)
    image = unused["10.image"]
    assert image.recommended and "example.png" in image.reason
    assert image.has_prompt_value and image.prompt_value == "", "using it empties the export's file name"
    assert unused["3.seed"].prompt_value == -1 and unused["3.seed"].panel["hidden"]
    assert not unused["7.text"].recommended
    first_unrecommended = names(cards).index("7.text")
    assert all(unused[n].recommended for n in names(cards)[:first_unrecommended]), "recommended ones first"


def test_the_other_values_of_the_workflow_can_be_added_but_not_the_front_ends_own(txt2img, info):
    inputs = dict(other_inputs(txt2img, build_cards(txt2img, [], info), info))
    assert "9.filename_prefix" in inputs and "10.upload" not in inputs and "10.image" not in inputs
    assert inputs["9.filename_prefix"] == "9 (SaveImage) · filename_prefix = studio"
    assert "4.ckpt_name" not in inputs, "a proposal already has its card"


def test_adding_a_value_guesses_its_field_from_the_backend(txt2img, info):
    params: list = []
    apply_operation(txt2img, params, "add", "10.image", "", info)
    apply_operation(txt2img, params, "add", "3.cfg", "", info)
    apply_operation(txt2img, params, "add", "4.ckpt_name", "", info)
    apply_operation(txt2img, params, "add", "9.filename_prefix", "", info)
    apply_operation(txt2img, params, "add", "9.filename_prefix", "", info)
    image, cfg, model, prefix = params
    assert image["type"] == "image" and txt2img["10"]["inputs"]["image"] == "", "the proposal's own rule"
    assert cfg["type"] == "number" and cfg["min"] == 0 and cfg["max"] == 100
    assert model == {**model, "type": "select", "options": "CheckpointLoaderSimple"}
    assert prefix["type"] == "string" and len(params) == 4


def test_changing_the_kind_of_a_field_keeps_what_applies(core_prompt, core_params, info):
    params = copy.deepcopy(core_params)
    apply_operation(core_prompt, params, "type", "2.width", "select", info)
    width = params[1]["children"][2]
    assert width["type"] == "select" and width["options"] == [256] and width["title"] == "Width"
    apply_operation(core_prompt, params, "type", "4.blend_mode", "string", info)
    assert params[1]["children"][0] == {"id": "4", "key": "blend_mode", "title": "Mode", "type": "string"}


def test_choices_from_the_backend_can_be_listed_here_and_back(txt2img, info):
    params = [{"type": "select", "id": "3", "key": "sampler_name", "title": "Sampler", "options": "KSampler"}]
    apply_operation(txt2img, params, "list-options", "3.sampler_name", "", info)
    assert params[0]["options"][0] == "euler" and "dpmpp_2m" in params[0]["options"]
    apply_operation(txt2img, params, "use-source", "3.sampler_name", "", info)
    assert params[0]["options"] == "KSampler"


def test_the_editor_endpoint_redraws_the_cards_after_an_operation(operator, txt2img):
    response = operator.post(
        EDITOR_URL,
        {"prompt": json.dumps(txt2img), "params": "[]", "operation": "add", "name": "6.text"},
    )
    answer = response.json()
    assert json.loads(answer["params"]) == [{"id": "6", "type": "string", "key": "text", "title": "Prompt"}]
    assert json.loads(answer["prompt"])["6"]["inputs"]["text"] == "a lighthouse"
    assert 'data-name="6.text"' in answer["html"] and "Use every suggested field" in answer["html"]


def test_the_editor_endpoint_says_when_the_json_does_not_read(operator, txt2img):
    answer = operator.post(EDITOR_URL, {"prompt": json.dumps(txt2img), "params": "[{"}).json()
    assert "The params is not valid JSON" in answer["html"] and "params" not in answer
    assert operator.get(EDITOR_URL).status_code == 405


def test_the_editor_needs_an_operator(client, db, txt2img):
    staff = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(staff)
    assert client.post(EDITOR_URL, {"prompt": json.dumps(txt2img), "params": "[]"}).status_code == 403


def test_the_change_page_draws_the_editor_over_the_json(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    html = operator.get(f"/admin/catalog/workflowtemplate/{template.pk}/change/").content.decode()
    assert 'data-studio data-editor-url="/admin/catalog/workflowtemplate/editor/"' in html
    assert f'data-preview-url="/admin/catalog/workflowtemplate/{template.pk}/preview/"' in html
    assert 'data-name="4.blend_factor"' in html and 'textarea name="params"' in html
    assert "js/studio.js" in html and "css/studio.css" in html
    assert "Save draft" in html and 'name="_publish"' in html


@translation.override("en")
def test_render_editor_names_a_prompt_it_cannot_read(info):
    assert "not a JSON object yet" in render_editor(None, [], info)
    assert "not a list" in render_editor({}, {"a": 1}, info)


# ---- gallery without uploads --------------------------------------------------------------------------


@translation.override("en")
def test_a_gallery_without_uploads_offers_only_its_pictures(core_prompt):
    panel = {"type": "image", "id": "1", "key": "image", "title": "Pick", "options": ["/static/a.png", "/static/b.png"]}
    form = build_template_form(draft(core_prompt, [{**panel, "upload": False}]))
    assert list(form.fields) == ["1.image"]
    bound = build_template_form(draft(core_prompt, [{**panel, "upload": False}]), data={})
    assert not bound.is_valid() and bound.errors["1.image"] == ["Choose one of the pictures."]
    chosen = build_template_form(draft(core_prompt, [{**panel, "upload": False}]), data={"1.image": "/static/b.png"})
    assert chosen.is_valid() and chosen.cleaned_data["1.image"] == "/static/b.png"
    assert list(build_template_form(draft(core_prompt, [panel])).fields) == ["1.image", "1.image" + UPLOAD_SUFFIX]


@translation.override("en")
def test_upload_false_needs_pictures_and_must_be_true_or_false(core_prompt):
    from comfyweb.catalog.params import validate_template

    panel = {"type": "image", "id": "1", "key": "image", "title": "Pick"}
    found = " ".join(map(str, validate_template(core_prompt, [{**panel, "upload": False}])))
    assert "visitors need pictures to pick" in found
    found = " ".join(map(str, validate_template(core_prompt, [{**panel, "options": ["/a.png"], "upload": "no"}])))
    assert "upload must be true or false" in found


# ---- the live preview and test runs -------------------------------------------------------------------


def test_the_live_preview_draws_unsaved_content_like_the_visitor_page(operator, core_prompt, core_params):
    core_params[0]["title"] = "Votre photo"
    data = {"title": "Draft title", "prompt": json.dumps(core_prompt), "params": json.dumps(core_params)}
    response = operator.post(LIVE_PREVIEW_URL, data)
    html = response.content.decode()
    assert response.status_code == 200 and 'class="steps"' in html and "css/site.css" in html
    assert "Votre photo" in html and "<h1>Draft title</h1>" in html
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert "生成几张？" in html, "visitor texts in the content language"
    assert "Save the draft once to run a test of it." in html and "data-test-run" not in html
    english = operator.post(LIVE_PREVIEW_URL, {**data, "_language": "en"}).content.decode()
    assert "How many images?" in english


def test_the_preview_speaks_to_the_operator_in_their_language_whatever_it_previews(operator, core_prompt, core_params):
    """An English operator previewing the Chinese page reads the problems and the test-run controls in English,
    before and after the draft is saved."""
    saved = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    broken = [{**core_params[0], "id": "99"}, *core_params[1:]]
    data = {"title": "标题", "prompt": json.dumps(core_prompt), "params": json.dumps(broken)}
    for url in (LIVE_PREVIEW_URL, f"/admin/catalog/workflowtemplate/{saved.pk}/preview/"):
        html = operator.post(url, {**data, "_language": "zh-hans"}).content.decode()
        assert "Visitors could not use this template yet:" in html and "node 99 is not in the prompt" in html
        assert "访客暂时" not in html
    data["params"] = json.dumps(core_params)
    html = operator.post(f"/admin/catalog/workflowtemplate/{saved.pk}/preview/", data).content.decode()
    assert "生成几张？" in html, "the page previewed is Chinese"
    assert "Test run" in html and "Run a test" in html and "Any free backend" in html
    assert "试运行" not in html


def test_the_live_preview_uses_the_translations_being_edited(operator, core_prompt, core_params):
    data = {
        "title": "标题",
        "prompt": json.dumps(core_prompt),
        "params": json.dumps(core_params),
        "translations": json.dumps({"en": {"title": "Title in English"}}),
        "translations.en.params.1.image.title": "Your photo, please",
        "_language": "en",
    }
    html = operator.post(LIVE_PREVIEW_URL, data).content.decode()
    assert "Title in English" in html and "Your photo, please" in html


def test_other_sites_may_not_frame_any_other_page(client, db):
    assert "frame-ancestors 'none'" in client.get("/").headers["Content-Security-Policy"]


def test_a_test_run_runs_the_draft_on_the_chosen_backend_without_publishing(
    operator, core_prompt, core_params, emulator_backend
):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    other = GpuBackend.objects.create(name="other", url="http://127.0.0.1:9", kind="comfyui")
    edited_prompt = copy.deepcopy(core_prompt)
    edited_prompt["3"]["inputs"]["width"] = 128
    url = reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    page = operator.post(url, {"prompt": json.dumps(edited_prompt), "params": json.dumps(core_params)}).content.decode()
    assert f'action="{url}" target="_blank"' in page and f'<option value="{other.pk}">other</option>' in page
    data = {
        "prompt": json.dumps(edited_prompt),
        "params": json.dumps(core_params),
        "title": "t",
        "_test_run": "1",
        "backend": str(other.pk),
        "4.blend_mode": "screen",
        "4.blend_factor": "0.5",
        "2.width": "128",
        "5.filename_prefix": "t",
        "1.image": SimpleUploadedFile("me.png", picture("PNG"), "image/png"),
    }
    response = operator.post(url, data)
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.id}/"
    assert job.template == template and job.template_version == 0, "a draft has no version yet"
    assert job.prompt["3"]["inputs"]["width"] == 128 and job.prompt["4"]["inputs"]["blend_mode"] == "screen"
    assert job.backend == other and job.status == Job.Status.QUEUED
    template.refresh_from_db()
    assert template.prompt == core_prompt and template.version == 1 and drafts.draft_of(template) is None


def test_a_test_run_of_the_saved_draft_and_of_several_images(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    content = {**drafts.content_of(template), "params": core_params[:1]}
    drafts.save_draft(template, content)
    url = reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    image = SimpleUploadedFile("me.png", picture("PNG"), "image/png")
    response = operator.post(url, {"_test_run": "1", "quantity": "2", "1.image": image})
    jobs = list(Job.objects.order_by("created_at"))
    assert len(jobs) == 2 and response["Location"] == f"/batches/{jobs[0].batch}/"
    assert {j.template_version for j in jobs} == {0} and jobs[0].params == core_params[:1]


def test_a_refused_test_run_shows_the_preview_again_with_the_reasons(operator, core_prompt, core_params):
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    url = reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    response = operator.post(url, {"_test_run": "1", "quantity": "99", "_language": "en"})
    html = response.content.decode()
    assert response.status_code == 400 and "Choose how many images to make" in html
    assert "has-error" in html and not Job.objects.exists()


def test_a_test_run_from_the_editor_answers_the_jobs_to_follow_or_why_not(operator, core_prompt, core_params):
    """The editor follows its test runs itself: it gets each job's page and WebSocket, or the reasons."""
    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    url = reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    image = SimpleUploadedFile("me.png", picture("PNG"), "image/png")
    response = operator.post(url, {"_test_run": "1", "_inline": "1", "quantity": "2", "1.image": image})
    jobs = list(Job.objects.order_by("created_at"))
    assert response.status_code == 201 and len(jobs) == 2
    assert response.json() == {
        "jobs": [{"id": str(job.id), "page": f"/jobs/{job.id}/", "socket": f"/ws/jobs/{job.id}/"} for job in jobs]
    }
    refused = operator.post(url, {"_test_run": "1", "_inline": "1", "_language": "en"})
    assert refused.status_code == 400 and Job.objects.count() == 2
    assert any("This field is required" in error for error in refused.json()["errors"])


def test_a_staff_member_who_may_only_look_gets_no_test_run(db, core_prompt, core_params):
    from django.contrib.auth.models import Permission

    template = WorkflowTemplate.objects.create(title="t", slug="t", prompt=core_prompt, params=core_params)
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_workflowtemplate"))
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(viewer)
    url = reverse("admin:catalog_workflowtemplate_preview", args=[template.pk])
    html = client.get(url + "?language=en").content.decode()
    assert "Only operators who may change this template run tests of it." in html
    client.post(url, {"_test_run": "1", "1.image": SimpleUploadedFile("me.png", picture("PNG"), "image/png")})
    assert not Job.objects.exists()


def test_a_ui_workflow_pasted_as_the_prompt_becomes_its_api_prompt(operator):
    workflow = {
        "nodes": [
            {"id": 1, "type": "LoadImage", "mode": 0, "inputs": [], "widgets_values": ["example.png", "image"],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}]},
            {"id": 2, "type": "SaveImage", "mode": 0, "widgets_values": ["out"], "outputs": [],
             "inputs": [{"name": "images", "type": "IMAGE", "link": 1}]},
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"]],
        "groups": [],
        "version": 0.4,
    }  # fmt: skip
    answer = operator.post(EDITOR_URL, {"prompt": json.dumps(workflow), "params": "[]"}).json()
    prompt = json.loads(answer["prompt"])
    assert prompt["1"]["class_type"] == "LoadImage" and prompt["2"]["inputs"]["images"] == ["1", 0]
    assert 'data-name="1.image"' in answer["html"], "its proposals are offered at once"
