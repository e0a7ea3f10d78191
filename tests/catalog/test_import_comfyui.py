"""Importing anything ComfyUI saves: `loadworkflows` and the import service with UI workflows, API prompts,
PNG/WebP pictures, and template files whose prompt is a UI workflow; slugs of old imports keep working."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation
from PIL import Image

from comfyweb.catalog.comfyui_files import embed_in_png, embed_in_webp
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import iter_panels, validate_template
from comfyweb.catalog.services import import_templates, import_upload
from tests.comfy.workflow.ui_cases import muted_and_bypassed, txt2img

pytestmark = pytest.mark.django_db
RECORDED_PATH = Path(__file__).resolve().parents[2] / "comfyweb/emulator/object_info.json"
RECORDED = json.loads(RECORDED_PATH.read_text())


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def load(*paths, **options) -> str:
    out = StringIO()
    call_command("loadworkflows", *map(str, paths), stdout=out, **options)
    return out.getvalue()


def test_a_saved_ui_workflow_becomes_a_disabled_template_with_proposed_fields(tmp_path):
    path = tmp_path / "invert-photo.json"
    path.write_text(json.dumps(muted_and_bypassed().workflow), encoding="utf-8")
    output = load(path, object_info=RECORDED_PATH)
    template = WorkflowTemplate.objects.get()
    assert "Loaded 1 workflow template(s): invert-photo" in output and "Disabled until reviewed" in output
    assert (template.title, template.slug, template.enabled) == ("invert-photo", "invert-photo", False)
    assert template.prompt["1"]["inputs"]["image"] == ""  # the export's photo.png is not a default
    assert "2" not in template.prompt and template.prompt["3"]["inputs"]["image"] == ["1", 0]
    fields = [(p["type"], p["id"], p["key"]) for p in iter_panels(template.params)]
    assert fields == [("image", "1", "image"), ("select", "8", "width"), ("select", "8", "height")]
    assert "“photo.png” is not kept" in template.notes
    assert validate_template(template.prompt, template.params) == []


@pytest.mark.parametrize("embed", [embed_in_png, embed_in_webp], ids=["png", "webp"])
def test_a_picture_comfyui_saved_becomes_a_template(tmp_path, embed):
    case = txt2img()
    path = tmp_path / f"灯塔.{embed.__name__.rsplit('_', 1)[-1]}"
    path.write_bytes(embed(Image.new("RGB", (8, 8)), case.prompt, case.workflow))
    load(path)
    template = WorkflowTemplate.objects.get()
    assert (template.title, template.slug) == ("灯塔", "deng-ta")
    assert template.prompt["3"]["inputs"]["seed"] == -1  # hidden, random
    steps = [p["title"] for p in template.params if p["type"] == "group"]
    assert steps == ["Describe the picture", "Size"]


def test_the_same_export_twice_gives_two_templates_not_an_overwrite(tmp_path):
    path = tmp_path / "lighthouse.json"
    path.write_text(json.dumps(txt2img().prompt), encoding="utf-8")
    load(path)
    load(path)
    assert sorted(WorkflowTemplate.objects.values_list("slug", flat=True)) == ["lighthouse", "lighthouse-2"]


def test_a_template_file_may_hold_a_ui_workflow_as_its_prompt(couple_template):
    case = txt2img()
    entry = {"title": "灯塔", "slug": "lighthouse", "prompt": case.workflow, "params": []}
    [template] = import_templates([entry], object_info=RECORDED)
    assert json.loads(json.dumps(template.prompt)) == case.prompt
    # Importing the same file again changes nothing.
    [again] = import_templates([entry], object_info=RECORDED)
    assert (again.pk, again.version) == (template.pk, template.version)


def test_a_workflow_that_cannot_be_converted_names_the_template():
    workflow = txt2img().workflow
    workflow["links"] = [link for link in workflow["links"] if link[0] != 1]  # node 3's model link
    with pytest.raises(ValidationError, match=r"template 1 \(x\): prompt: node 3 \(KSampler\): its input model"):
        import_templates([{"title": "x", "prompt": workflow}], object_info=RECORDED)
    assert not WorkflowTemplate.objects.exists()


def test_templates_imported_with_a_chinese_slug_are_updated_in_place(couple_template):
    entry = {k: v for k, v in couple_template.items() if k != "slug"}
    old = WorkflowTemplate.objects.create(
        title=entry["title"], slug=entry["title"], prompt=entry["prompt"], params=entry["params"]
    )
    [template] = import_templates([entry])
    assert (template.pk, template.slug) == (old.pk, "破次元壁合照")
    assert WorkflowTemplate.objects.count() == 1


def test_the_admins_upload_takes_pictures_and_refuses_other_files():
    case = txt2img()
    [template] = import_upload(embed_in_png(Image.new("RGB", (8, 8)), case.prompt, case.workflow), "sunset.png")
    assert (template.slug, template.enabled) == ("sunset", False)
    with pytest.raises(ValidationError, match="holds no ComfyUI workflow"):
        import_upload(embed_in_png(Image.new("RGB", (8, 8)), None, None), "holiday.png")
    with pytest.raises(ValidationError, match=r"notes\.txt is not valid JSON, nor a PNG or WebP"):
        import_upload(b"hello", "notes.txt")


def test_loadworkflows_refuses_an_unreadable_object_info(tmp_path):
    (tmp_path / "info.json").write_text("{broken", encoding="utf-8")
    (tmp_path / "w.json").write_text(json.dumps(txt2img().workflow), encoding="utf-8")
    with pytest.raises(CommandError, match="not a readable /object_info JSON file"):
        load(tmp_path / "w.json", object_info=tmp_path / "info.json")
