"""The workflows/*.json list format: import by slug (idempotent), export, and the two commands."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.services import export_templates, import_templates, template_slug
from tests.catalog.conftest import WORKFLOWS_DIR, shipped_templates

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def test_a_chinese_title_gives_an_ascii_slug_in_pinyin():
    assert template_slug({"title": "破次元壁合照"}) == "po-ci-yuan-bi-he-zhao"
    assert template_slug({"title": "x", "slug": "couple"}) == "couple"


def test_importing_the_seed_templates(couple_template, background_template):
    saved = import_templates([couple_template, background_template])
    assert [t.slug for t in saved] == ["po-ci-yuan-bi-he-zhao", "bei-jing-ti-huan"]
    template = WorkflowTemplate.objects.get(slug="po-ci-yuan-bi-he-zhao")
    assert template.prompt == couple_template["prompt"] and template.params == couple_template["params"]
    assert [t.ordering for t in saved] == [0, 1]


def test_importing_twice_changes_nothing(couple_template):
    import_templates([couple_template])
    first = WorkflowTemplate.objects.get()
    import_templates([couple_template])
    again = WorkflowTemplate.objects.get()
    assert (again.pk, again.version, again.prompt) == (first.pk, first.version, first.prompt)


def test_reimporting_a_changed_template_updates_it_by_slug_and_bumps_the_version(couple_template):
    import_templates([couple_template])
    couple_template["params"] = couple_template["params"][:1]
    couple_template["description"] = "new"
    [template] = import_templates([couple_template])
    assert WorkflowTemplate.objects.count() == 1
    assert template.version == 2 and template.description == "new"


def test_an_invalid_entry_saves_nothing_and_names_template_panel_and_reason(couple_template, background_template):
    background_template["params"][0]["id"] = "77"
    with pytest.raises(ValidationError) as refused:
        import_templates([couple_template, background_template])
    assert refused.value.messages == [
        "template 2 (背景替换): #1 STEP 1 - 选择角色 (image 77.image): node 77 is not in the prompt."
    ]
    assert not WorkflowTemplate.objects.exists()


def test_entries_need_a_title_and_a_prompt_and_the_file_a_list():
    with pytest.raises(ValidationError, match="needs at least a title"):
        import_templates([{"prompt": {}}])
    with pytest.raises(ValidationError, match="JSON list of templates"):
        import_templates("nope")


def test_a_bad_slug_and_duplicate_slugs_are_refused(couple_template):
    with pytest.raises(ValidationError, match="slug"):
        import_templates([{**couple_template, "slug": "has space"}])
    with pytest.raises(ValidationError, match="another template of this file has the slug dup"):
        import_templates([{**couple_template, "slug": "dup"}, {**couple_template, "slug": "dup"}])
    assert not WorkflowTemplate.objects.exists()


def test_export_then_import_is_a_round_trip():
    import_templates(shipped_templates())
    exported = export_templates()
    keys = ("title", "slug", "description", "notes", "cover", "prompt", "params")
    assert exported == [
        {**{k: t.get(k, "") for k in keys}, **({"translations": t["translations"]} if t.get("translations") else {})}
        for t in shipped_templates()
    ]
    WorkflowTemplate.objects.all().delete()
    import_templates(json.loads(json.dumps(exported)))
    assert export_templates() == exported


def test_loadworkflows_loads_the_shipped_directory_idempotently():
    out = StringIO()
    call_command("loadworkflows", stdout=out)
    slugs = sorted(t["slug"] for t in shipped_templates())
    assert sorted(WorkflowTemplate.objects.values_list("slug", flat=True)) == slugs
    assert "Loaded 4 workflow template(s)" in out.getvalue()
    versions = dict(WorkflowTemplate.objects.values_list("slug", "version"))
    call_command("loadworkflows", str(WORKFLOWS_DIR / "core-image.json"), stdout=StringIO())
    assert dict(WorkflowTemplate.objects.values_list("slug", "version")) == versions
    assert WorkflowTemplate.objects.count() == 4


def test_loadworkflows_refuses_bad_files_and_saves_nothing(tmp_path, couple_template):
    good = tmp_path / "a.json"
    good.write_text(json.dumps([couple_template]), encoding="utf-8")
    (tmp_path / "b.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CommandError, match=r"b\.json is not valid JSON"):
        call_command("loadworkflows", str(tmp_path))
    with pytest.raises(CommandError, match="No such file"):
        call_command("loadworkflows", str(tmp_path / "missing.json"))
    broken = dict(couple_template, params=[{"type": "select", "id": "3", "key": "cfg", "options": []}])
    (tmp_path / "b.json").write_text(json.dumps([broken]), encoding="utf-8")
    with pytest.raises(CommandError, match=r"b\.json: template 1 .*a select needs a non-empty options list"):
        call_command("loadworkflows", str(tmp_path))
    assert not WorkflowTemplate.objects.exists()


def test_dumpworkflows_writes_what_loadworkflows_reads(tmp_path):
    call_command("loadworkflows", stdout=StringIO())
    out = StringIO()
    call_command("dumpworkflows", stdout=out)
    dumped = tmp_path / "dump.json"
    dumped.write_text(out.getvalue(), encoding="utf-8")
    assert json.loads(out.getvalue()) == export_templates()
    WorkflowTemplate.objects.all().delete()
    call_command("loadworkflows", str(dumped), stdout=StringIO())
    assert export_templates() == json.loads(out.getvalue())


def test_dumpworkflows_can_pick_templates():
    call_command("loadworkflows", stdout=StringIO())
    out = StringIO()
    call_command("dumpworkflows", "poster-frame", stdout=out)
    assert [t["slug"] for t in json.loads(out.getvalue())] == ["poster-frame"]


@pytest.mark.django_db
def test_entries_whose_texts_are_not_text_are_refused_by_name(couple_photo_prompt):
    entry = {"title": "T", "slug": ["not", "text"], "prompt": couple_photo_prompt, "params": []}
    with pytest.raises(ValidationError, match="slug must be text"):
        import_templates([entry])
    assert not WorkflowTemplate.objects.exists()
