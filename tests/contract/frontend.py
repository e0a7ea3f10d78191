"""ComfyUI's own page (its web front end, served by the real ComfyUI) driven in Debian's chromium: load a
workflow into it and ask for the prompt it would queue (`app.graphToPrompt()`), and the workflow corpora
the conversion is compared on. Used by test_real_frontend_conversion.py and record_frontend_prompts.py.
"""

from __future__ import annotations

import importlib.resources
import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from comfyweb.comfy.workflow import FRONTEND_NODES, is_ui_workflow
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.comfy.workflow.frontend_fixtures import as_sent, has_group_nodes

__all__ = ["as_sent", "has_group_nodes"]

CORPUS_PACKAGE = "comfyui_workflow_templates_json"  # pinned in requirements.txt

LOAD = """async (workflow) => {
  await window.app.loadGraphData(workflow, true, false, null,
    {showMissingNodesDialog: false, showMissingModelsDialog: false});
}"""

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


class FrontendError(RuntimeError):
    """ComfyUI's page could not turn the workflow into a prompt."""


@contextmanager
def comfyui_page(url: str) -> Iterator:
    """ComfyUI's page at `url`, loaded once in chromium; Playwright's sync loop ends with the block."""
    with urllib.request.urlopen(url + "/", timeout=30) as response:
        page_html = response.read().decode("utf-8", "replace")
    if "<title>ComfyUI</title>" not in page_html:
        raise FrontendError("the real ComfyUI serves no front end (comfyui-frontend-package?)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="en-US")
        page.goto(url + "/")
        page.wait_for_function("() => window.app && window.app.graph && window.app.canvas", timeout=120_000)
        try:
            yield page
        finally:
            browser.close()


def graph_to_prompt(page, workflow: dict) -> tuple[dict, str]:
    """The prompt ComfyUI's page queues for `workflow` ({a|b} choices take the first option) and the front
    end's version. JSON keeps the page's key order."""
    answer = json.loads(page.evaluate(GRAPH_TO_PROMPT, workflow))
    if "error" in answer:
        raise FrontendError(f"ComfyUI's page could not queue it: {answer['error']}")
    if not answer["frontend"]:
        raise FrontendError("no front end version in the saved workflow")
    return answer["prompt"], answer["frontend"]


def usable(workflow: object, object_info: dict) -> bool:
    """A UI workflow whose node classes (in subgraphs and group nodes too) this ComfyUI has."""
    if not is_ui_workflow(workflow):
        return False
    assert isinstance(workflow, dict)
    definitions = (workflow.get("definitions") or {}).get("subgraphs") or []
    groups = (workflow.get("extra") or {}).get("groupNodes") or {}
    subgraph_ids = {d.get("id") for d in definitions}
    group_types = {f"workflow>{name}" for name in groups} | {f"workflow/{name}" for name in groups}
    nodes = [
        *workflow["nodes"],
        *(n for d in definitions for n in d.get("nodes") or []),
        *(n for g in groups.values() for n in g.get("nodes") or []),
    ]
    known = set(object_info) | subgraph_ids | group_types | FRONTEND_NODES
    return all(n.get("type") in known for n in nodes)


def template_corpus() -> list[tuple[str, dict]]:
    """The pinned package's workflows: ComfyUI's own templates."""
    folder = importlib.resources.files(CORPUS_PACKAGE) / "templates"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json") and not entry.name.startswith("index"):
            found.append((f"templates/{entry.name}", json.loads(entry.read_text(encoding="utf-8"))))
    return found


def fixture_corpus(folder: Path) -> list[tuple[str, dict]]:
    return [
        (f"{folder.name}/{path.name}", json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("*.json"))
    ]
