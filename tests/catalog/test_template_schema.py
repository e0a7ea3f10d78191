"""The template file format: its JSON Schema, the documented examples, and problems that name their path."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from jsonschema import Draft202012Validator

from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.catalog.params import validate_template
from comfyweb.catalog.schema import file_problems, template_schema
from tests.catalog.conftest import WORKFLOWS_DIR, shipped_templates

DOC = Path(__file__).resolve().parents[2] / "docs" / "templates.md"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def doc_examples() -> list:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(template_schema())


def test_the_shipped_workflows_follow_the_schema():
    for path in sorted(WORKFLOWS_DIR.glob("*.json")):
        assert file_problems(json.loads(path.read_text(encoding="utf-8"))) == [], path.name


def test_every_documented_example_is_valid():
    examples = doc_examples()
    [full] = [e for e in examples if isinstance(e, list)]
    prompt = full[0]["prompt"]
    panel_types = set()
    for example in examples:
        if isinstance(example, list) or "prompt" in example:
            assert file_problems(example) == []
            for entry in example if isinstance(example, list) else [example]:
                assert validate_template(entry["prompt"], entry.get("params", [])) == []
        else:
            panel_types.add(example["type"])
            assert validate_template(prompt, [example]) == [], example
    assert panel_types == {"image", "select", "number", "string", "group"}


def test_problems_name_their_path_in_the_file():
    entry = shipped_templates()[0]
    broken = [
        {**entry, "params": [{"type": "number", "id": "1", "key": "x", "min": "0", "tittle": "Oops"}]},
        {"title": "", "prompt": {}, "slugg": "x"},
    ]
    assert file_problems(broken) == [
        "[0].params[0]: Additional properties are not allowed ('tittle' was unexpected)",
        "[0].params[0].min: '0' is not of type 'number'",
        "[1]: Additional properties are not allowed ('slugg' was unexpected)",
        "[1].prompt: {} should be non-empty",
        "[1].title: '' should be non-empty",
    ]
    assert file_problems("nope") == [
        "(the file): a workflows file holds a JSON list of templates (or one template object)."
    ]


def test_the_model_validation_reports_what_only_the_schema_knows(core_prompt, core_params):
    core_params[0]["tittle"] = "Photo"
    core_params[1]["children"][0]["hidden"] = "yes"
    reasons = [str(p) for p in validate_template(core_prompt, core_params)]
    assert reasons == [
        "#1 Photo (image 1.image): Additional properties are not allowed ('tittle' was unexpected)",
        "#3 Mode (select 4.blend_mode): hidden: 'yes' is not of type 'boolean'",
    ]


@pytest.mark.django_db
def test_loadworkflows_names_the_path_of_a_problem_in_the_file(tmp_path):
    entry = shipped_templates()[0]
    entry["params"][0]["titel"] = "typo"
    (tmp_path / "typo.json").write_text(json.dumps([entry]), encoding="utf-8")
    with pytest.raises(CommandError, match=r"typo\.json: \[0\]\.params\[0\]: .*'titel' was unexpected"):
        call_command("loadworkflows", str(tmp_path / "typo.json"), stdout=StringIO())
    assert not WorkflowTemplate.objects.exists()
