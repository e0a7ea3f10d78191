"""Record what ComfyUI's own page does with old group nodes, for the tests that run without a browser.

    bash tests/contract/run_real_comfyui.sh --record-prompts   # builds, starts ComfyUI, runs this, stops it

or, against a ComfyUI 0.3.75 already running:

    .venv/bin/python -m tests.contract.record_frontend_prompts --url http://127.0.0.1:8188

1. tests/fixtures/group_nodes/: small workflows of tests/comfy/workflow/ui_cases.py whose nodes the page
   itself turns into group nodes (selected, "Convert to Group Node", named in its dialog), some then edited
   on the page (a second instance, muted, bypassed), saved as the page saves them.
2. tests/fixtures/frontend_prompts/: the prompt the page queues for each of those and for every workflow of
   tests/fixtures/comfyui_examples/ that has group nodes or sends a float default as an integer (`1`, not
   `1.0`): `{"workflow": <fixture>, "frontend": <version>, "prompt": <as the page sent it>}`.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comfyweb.settings")  # tests.browser.conftest reads settings

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.comfy.workflow import ui_cases
from tests.comfy.workflow.frontend_fixtures import EXAMPLES, FIXTURES, GROUP_NODES, PROMPTS
from tests.contract.frontend import LOAD, comfyui_page, fixture_corpus, graph_to_prompt, has_group_nodes

CONVERT = """async ({ids}) => {
  const canvas = window.app.canvas;
  canvas.deselectAll();
  for (const id of ids) canvas.select(window.app.graph.getNodeById(id));
  window.app.extensionManager.command.execute('Comfy.GroupNode.ConvertSelectedNodesToGroupNode');
}"""
SAVED = "async () => JSON.stringify((await window.app.graphToPrompt()).workflow)"
# A second instance of the group node: same inputs, other widget values, its own decoder and preview.
SECOND_INSTANCE = """() => {
  const graph = window.app.graph;
  const first = graph.nodes.find((n) => n.type.startsWith('workflow>'));
  const second = first.clone();
  graph.add(second);
  second.pos = [first.pos[0], first.pos[1] + 500];
  first.inputs.forEach((input, i) => {
    const link = first.getInputLink(i);
    if (link) graph.getNodeById(link.origin_id).connect(link.origin_slot, second, i);
  });
  for (const widget of second.widgets) {
    if (widget.name.endsWith('seed')) widget.value = 7;
    if (widget.name.endsWith('steps')) widget.value = 9;
  }
  const decode = LiteGraph.createNode('VAEDecode');
  graph.add(decode);
  second.connect(0, decode, 0);
  graph.getNodeById(4).connect(2, decode, 1);
  const preview = LiteGraph.createNode('PreviewImage');
  graph.add(preview);
  decode.connect(0, preview, 0);
}"""


def set_group_mode(mode: int) -> str:
    return f"() => {{ window.app.graph.nodes.find((n) => n.type.startsWith('workflow>')).mode = {mode}; }}"


@dataclass
class GroupCase:
    name: str
    base: Callable[[], ui_cases.UiCase]
    groups: list[tuple[str, list[int]]]  # group node name, ids of the nodes it takes
    after: list[str] = field(default_factory=list)  # page scripts run once the groups are made


GROUP_CASES = [
    GroupCase("group_sampler", ui_cases.txt2img, [("Sampler", [5, 3])]),
    GroupCase("group_chained", ui_cases.txt2img, [("Prompts", [6, 7]), ("Sampling", [5, 3])]),
    GroupCase(
        "group_reroutes_and_primitives",
        ui_cases.reroutes_and_primitives,
        [("Scale and save", [10, 11, 2, 20, 21, 3])],
    ),
    GroupCase("group_upload_and_bypassed_inside", ui_cases.muted_and_bypassed, [("Load and scale", [1, 2, 3])]),
    GroupCase("group_two_instances", ui_cases.txt2img, [("Sampler twice", [5, 3])], [SECOND_INSTANCE]),
    GroupCase("group_muted", ui_cases.txt2img, [("Muted sampler", [5, 3])], [set_group_mode(2)]),
    GroupCase("group_bypassed", ui_cases.txt2img, [("Bypassed sampler", [5, 3])], [set_group_mode(4)]),
    GroupCase("group_texts", ui_cases.texts, [("Sample and save", [3, 8, 9])]),
    GroupCase("group_primitive_float", ui_cases.primitive_float, [("Guided sampler", [20, 3])]),
]


# Examples saved before a FLOAT input of theirs existed: its default (1.0 in /object_info) goes out as `1`.
NUMBER_FORM_EXAMPLES = {
    "flux-flux_fill_inpaint_example.json",
    "ltxv-ltxv_image_to_video_simple.0.9.5.json",
    "sdturbo-sdxlturbo_example.json",
}


def make_group_nodes(page, case: GroupCase) -> dict:
    """The case's workflow with its groups made by the page, as the page saves it."""
    page.evaluate(LOAD, case.base().workflow)
    for name, ids in case.groups:
        page.evaluate(CONVERT, {"ids": ids})
        dialog = page.locator(".p-dialog input").first
        dialog.wait_for(timeout=30_000)
        dialog.fill(name)
        dialog.press("Enter")
        page.wait_for_function("(name) => !!window.app.graph.extra?.groupNodes?.[name]", arg=name, timeout=30_000)
        page.locator(".p-dialog").first.wait_for(state="detached", timeout=30_000)
    for script in case.after:
        page.evaluate(script)
    return json.loads(page.evaluate(SAVED))


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def record(url: str) -> None:
    with comfyui_page(url) as page:
        for case in GROUP_CASES:
            write_json(GROUP_NODES / f"{case.name}.json", make_group_nodes(page, case))
            print(f"made {case.name}")
        chosen = fixture_corpus(GROUP_NODES) + [
            (name, workflow)
            for name, workflow in fixture_corpus(EXAMPLES)
            if has_group_nodes(workflow) or Path(name).name in NUMBER_FORM_EXAMPLES
        ]
        for name, workflow in chosen:
            prompt, frontend = graph_to_prompt(page, workflow)
            write_json(PROMPTS / Path(name).name, {"workflow": name, "frontend": frontend, "prompt": prompt})
            print(f"recorded {name}")
    print(f"wrote {len(chosen)} prompts under {PROMPTS.relative_to(FIXTURES.parent.parent)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a running ComfyUI 0.3.75, e.g. http://127.0.0.1:8188")
    record(parser.parse_args().url.rstrip("/"))


if __name__ == "__main__":
    main()
