"""The UI-format conversion equals, byte for byte, what ComfyUI's own page queues (`make test-comfyui`).

The real ComfyUI 0.3.75 serves its web front end (comfyui-frontend-package, installed with it) at `/`.
Each workflow is loaded into that page in Debian's chromium, `app.graphToPrompt()` gives the prompt the
page would queue, and `comfy.workflow.convert_workflow` must give exactly the same JSON once parsed (key
order, `_meta` titles and number forms included: `1`, not `1.0`), from the same server's `/object_info`.
The corpus: ComfyUI's own templates (the pinned comfyui-workflow-templates-json), ComfyUI's published
example workflows (tests/fixtures/comfyui_examples/, eleven of them with old group nodes) and workflows
whose group nodes the page itself made (tests/fixtures/group_nodes/), each where this CPU ComfyUI has the
node classes; plus tests/comfy/workflow/ui_cases.py, one small workflow per UI feature, whose hand-written
prompts must match the page too. `Math.random` is pinned to 0 around graphToPrompt so {a|b} choices take
the first option, as the converter does by default. The prompts recorded for the tests without a browser
(tests/fixtures/frontend_prompts/) must still be what the page queues.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from comfyweb.comfy.workflow import convert_workflow
from tests.browser.conftest import CHROMIUM
from tests.comfy.workflow.frontend_fixtures import (
    EXAMPLES,
    GROUP_NODES,
    as_sent,
    has_group_nodes,
    recorded_prompts,
    uses_group_nodes,
)
from tests.comfy.workflow.ui_cases import all_cases
from tests.contract.frontend import comfyui_page, fixture_corpus, graph_to_prompt, template_corpus, usable

pytestmark = pytest.mark.comfyui

MIN_TEMPLATES = 100  # the pinned package has 132 workflows of core nodes this ComfyUI has
MIN_EXAMPLES = 100  # 107 published examples, all of core nodes
MIN_RECORDED = 20  # prompts recorded for 11 examples with group nodes, 3 with number forms, 9 made on the page


@pytest.fixture(scope="module")
def object_info(real_comfyui_url) -> dict:
    with urllib.request.urlopen(real_comfyui_url + "/object_info", timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def frontend(real_comfyui_url):
    """ComfyUI's page, loaded once."""
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (make browser)")
    with comfyui_page(real_comfyui_url) as page:
        yield page


def differences(mine: dict, theirs: dict) -> list[str]:
    lines = [
        f"  {node_id}:\n    page: {json.dumps(theirs.get(node_id))}\n    ours: {json.dumps(mine.get(node_id))}"
        for node_id in dict.fromkeys([*theirs, *mine])
        if as_sent(mine.get(node_id) or {}) != as_sent(theirs.get(node_id) or {})
    ]
    if not lines and list(mine) != list(theirs):
        lines.append(f"  node order:\n    page: {list(theirs)}\n    ours: {list(mine)}")
    return lines


# corpus → (its workflows, at least this many usable, at least this many of them with old group nodes)
CORPORA = {
    "ComfyUI templates": (template_corpus, MIN_TEMPLATES, 0),
    "published examples": (lambda: fixture_corpus(EXAMPLES), MIN_EXAMPLES, 11),
    "made on the page": (lambda: fixture_corpus(GROUP_NODES), 9, 9),
}


# Hundreds of workflows through a browser on a busy machine: a bound well past the few minutes it takes.
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("corpus", list(CORPORA))
def test_the_conversion_equals_the_page_byte_for_byte(frontend, object_info, capsys, corpus):
    source, minimum, minimum_with_groups = CORPORA[corpus]
    failures, count, equal, with_groups, using_groups, version = [], 0, 0, 0, 0, ""
    for name, workflow in source():
        if not usable(workflow, object_info):
            continue
        count += 1
        with_groups += has_group_nodes(workflow)
        using_groups += uses_group_nodes(workflow)
        theirs, version = graph_to_prompt(frontend, workflow)
        mine = json.loads(json.dumps(convert_workflow(workflow, object_info).prompt))
        if as_sent(mine) == as_sent(theirs):
            equal += 1
        else:
            failures.append(f"{name}:\n" + "\n".join(differences(mine, theirs)))
    with capsys.disabled():
        print(
            f"\n[conversion] {corpus}: byte for byte equal to ComfyUI's page (front end {version}) on {equal} of "
            f"{count} workflows; {with_groups} of them with old group nodes, {using_groups} using them on the canvas"
        )
    assert count >= minimum, f"only {count} usable workflows"
    assert with_groups >= minimum_with_groups, f"only {with_groups} workflows with group nodes"
    assert not failures, f"{len(failures)} of {count} workflows differ:\n" + "\n".join(failures)


def test_the_recorded_prompts_are_what_the_page_queues(frontend):
    """The tests without a browser compare against these; re-record them with
    `bash tests/contract/run_real_comfyui.sh --record-prompts` when the front end changes."""
    records = recorded_prompts()
    assert len(records) >= MIN_RECORDED
    stale = [
        record.name
        for record in records
        if as_sent(graph_to_prompt(frontend, record.workflow)[0]) != as_sent(record.prompt)
    ]
    assert not stale, f"the page now queues other prompts for: {stale}"


@pytest.mark.parametrize("case", all_cases(), ids=lambda case: case.name)
def test_each_ui_feature_equals_the_page_and_the_hand_written_prompt(frontend, object_info, case):
    theirs, _version = graph_to_prompt(frontend, case.workflow)
    assert json.dumps(theirs, sort_keys=True) == json.dumps(case.prompt, sort_keys=True), (
        "the hand-written prompt is not what ComfyUI's page queues:\n" + "\n".join(differences(case.prompt, theirs))
    )
    conversion = convert_workflow(case.workflow, object_info)
    mine = json.loads(json.dumps(conversion.prompt))
    assert as_sent(mine) == as_sent(theirs), "\n".join(differences(mine, theirs))
    assert {g.title: sorted(g.node_ids) for g in conversion.groups} == {
        title: sorted(ids) for title, ids in case.groups.items()
    }
