"""Workflows and the prompts ComfyUI's own page queued for them (front end 1.32.9 on ComfyUI 0.3.75),
recorded by tests/contract/record_frontend_prompts.py and checked against the live page by `make test-comfyui`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXAMPLES = FIXTURES / "comfyui_examples"  # ComfyUI's published example workflows (README.md there)
GROUP_NODES = FIXTURES / "group_nodes"  # workflows whose old group nodes ComfyUI's page made
PROMPTS = FIXTURES / "frontend_prompts"  # what ComfyUI's page queued for some of them
RECORDED_OBJECT_INFO = FIXTURES.parent.parent / "comfyweb/emulator/object_info.json"


@dataclass
class RecordedPrompt:
    name: str  # the workflow's fixture, e.g. "group_nodes/group_sampler.json"
    workflow: dict
    prompt: dict  # as the page sent it, its keys in the page's order
    frontend: str


def recorded_prompts() -> list[RecordedPrompt]:
    found = []
    for path in sorted(PROMPTS.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        workflow = json.loads((FIXTURES / record["workflow"]).read_text(encoding="utf-8"))
        found.append(RecordedPrompt(record["workflow"], workflow, record["prompt"], record["frontend"]))
    return found


def as_sent(prompt: dict) -> str:
    """A prompt in the bytes JSON gives it once parsed: key order kept, `1` and `1.0` told apart."""
    return json.dumps(prompt, ensure_ascii=False)


def has_group_nodes(workflow: dict) -> bool:
    return bool((workflow.get("extra") or {}).get("groupNodes"))


def uses_group_nodes(workflow: dict) -> bool:
    """Group nodes on the canvas, not only defined."""
    return any(str(node.get("type", "")).startswith(("workflow>", "workflow/")) for node in workflow["nodes"])
