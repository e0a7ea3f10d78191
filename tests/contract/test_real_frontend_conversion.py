"""The UI-format conversion equals what ComfyUI's own page queues (`make test-comfyui`).

The real ComfyUI 0.3.75 serves its web front end (comfyui-frontend-package, installed with it) at `/`.
Each workflow is loaded into that page in Debian's chromium, `app.graphToPrompt()` gives the prompt the
page would queue, and `comfy.workflow.convert_workflow` must give exactly the same, `_meta` titles
included, from the same server's `/object_info`. The corpus: every workflow of the pinned
comfyui-workflow-templates-json package (ComfyUI's own templates) whose node classes this CPU ComfyUI has,
plus tests/comfy/workflow/ui_cases.py, one small workflow per UI feature, whose hand-written prompts must match
the page too. `Math.random` is pinned to 0 around graphToPrompt so {a|b} choices take the first option,
as the converter does by default.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from comfyweb.comfy.workflow import FRONTEND_NODES, convert_workflow, is_ui_workflow
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.comfy.workflow.ui_cases import all_cases

pytestmark = pytest.mark.comfyui

CORPUS_PACKAGE = "comfyui_workflow_templates_json"  # pinned in requirements.txt
MIN_CORPUS = 100  # the pinned package has 132 workflows of core nodes this ComfyUI has

GRAPH_TO_PROMPT = """async (workflow) => {
  await window.app.loadGraphData(workflow, true, false, null,
    {showMissingNodesDialog: false, showMissingModelsDialog: false});
  const random = Math.random;
  Math.random = () => 0;
  try {
    const {output, workflow: saved} = await window.app.graphToPrompt();
    return JSON.stringify({prompt: output, frontend: saved.extra?.frontendVersion ?? null});
  } catch (error) {
    return JSON.stringify({error: String(error)});
  } finally {
    Math.random = random;
  }
}"""


@pytest.fixture(scope="module")
def object_info(real_comfyui_url) -> dict:
    with urllib.request.urlopen(real_comfyui_url + "/object_info", timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def frontend(real_comfyui_url):
    """ComfyUI's page, loaded once; Playwright's sync loop ends with the module."""
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (make browser)")
    with urllib.request.urlopen(real_comfyui_url + "/", timeout=30) as response:
        page_html = response.read().decode("utf-8", "replace")
    assert "<title>ComfyUI</title>" in page_html, "the real ComfyUI serves no front end (comfyui-frontend-package?)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="en-US")
        page.goto(real_comfyui_url + "/")
        page.wait_for_function("() => window.app && window.app.graph && window.app.canvas", timeout=120_000)
        yield page
        browser.close()


def graph_to_prompt(page, workflow: dict) -> dict:
    answer = json.loads(page.evaluate(GRAPH_TO_PROMPT, workflow))
    assert "error" not in answer, f"ComfyUI's page could not queue it: {answer['error']}"
    assert answer["frontend"], "no front end version in the saved workflow"
    return answer["prompt"]


def corpus(object_info: dict) -> list[tuple[str, dict]]:
    """The pinned package's workflows whose node classes (subgraphs included) this ComfyUI has."""
    folder = importlib.resources.files(CORPUS_PACKAGE) / "templates"
    usable = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json") or entry.name.startswith("index"):
            continue
        workflow = json.loads(entry.read_text(encoding="utf-8"))
        if not is_ui_workflow(workflow):
            continue
        definitions = (workflow.get("definitions") or {}).get("subgraphs") or []
        subgraph_ids = {d.get("id") for d in definitions}
        nodes = list(workflow["nodes"]) + [n for d in definitions for n in d.get("nodes") or []]
        if all(n.get("type") in object_info or n.get("type") in subgraph_ids | FRONTEND_NODES for n in nodes):
            usable.append((entry.name, workflow))
    return usable


def differences(mine: dict, theirs: dict) -> list[str]:
    return [
        f"  {node_id}:\n    page: {json.dumps(theirs.get(node_id))}\n    ours: {json.dumps(mine.get(node_id))}"
        for node_id in sorted(set(mine) | set(theirs))
        if mine.get(node_id) != theirs.get(node_id)
    ]


def test_the_conversion_equals_the_page_on_comfyuis_own_templates(frontend, object_info):
    workflows = corpus(object_info)
    assert len(workflows) >= MIN_CORPUS, f"only {len(workflows)} usable workflows in the pinned corpus"
    failures = []
    for name, workflow in workflows:
        theirs = graph_to_prompt(frontend, workflow)
        mine = json.loads(json.dumps(convert_workflow(workflow, object_info).prompt))
        if mine != theirs:
            failures.append(f"{name}:\n" + "\n".join(differences(mine, theirs)))
    assert not failures, f"{len(failures)} of {len(workflows)} workflows differ:\n" + "\n".join(failures)


@pytest.mark.parametrize("case", all_cases(), ids=lambda case: case.name)
def test_each_ui_feature_equals_the_page_and_the_hand_written_prompt(frontend, object_info, case):
    theirs = graph_to_prompt(frontend, case.workflow)
    assert theirs == case.prompt, "the hand-written prompt is not what ComfyUI's page queues:\n" + "\n".join(
        differences(case.prompt, theirs)
    )
    conversion = convert_workflow(case.workflow, object_info)
    assert json.loads(json.dumps(conversion.prompt)) == theirs
    assert {g.title: sorted(g.node_ids) for g in conversion.groups} == {
        title: sorted(ids) for title, ids in case.groups.items()
    }
