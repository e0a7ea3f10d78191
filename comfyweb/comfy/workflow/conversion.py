"""UI workflow → the API prompt ComfyUI's page queues for it (`app.graphToPrompt()`), step by step as the page
does it: load the graph, apply primitive nodes, copy promoted widget values into subgraphs, flatten the
subgraph instances, then write each executable node's widget values and resolved links."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from comfyweb.comfy.workflow.dynamic_prompts import RandomSource, process_dynamic_prompt
from comfyweb.comfy.workflow.errors import WorkflowConversionError
from comfyweb.comfy.workflow.execution import flatten
from comfyweb.comfy.workflow.formats import is_ui_workflow
from comfyweb.comfy.workflow.graph import MODE_BYPASS, MODE_NEVER, Node
from comfyweb.comfy.workflow.groups import GroupInfo, find_groups
from comfyweb.comfy.workflow.js_values import js_json_value, js_object_order
from comfyweb.comfy.workflow.loading import LoadedWorkflow, MissingNode, load_workflow
from comfyweb.comfy.workflow.primitives import apply_primitives
from comfyweb.comfy.workflow.subgraphs import sync_promoted
from comfyweb.comfy.workflow.text_replacements import apply_text_replacements
from comfyweb.comfy.workflow.widgets import Widget

# Save nodes whose filename_prefix gets %Node.widget% / %date:…% replaced (saveImageExtraOutput.ts).
SAVE_NODE_TYPES = {
    "SaveImage",
    "SaveVideo",
    "SaveAnimatedWEBP",
    "SaveWEBM",
    "SaveAudio",
    "SaveGLB",
    "SaveAnimatedPNG",
    "CLIPSave",
    "VAESave",
    "ModelSave",
    "LoraSave",
    "SaveLatent",
}
# Nodes whose widgets the front end fills when the prompt is queued (a camera frame, a 3D scene capture):
# the conversion keeps the saved value and says so.
CAPTURED_AT_QUEUE_TIME = {"WebcamCapture", "Load3D"}


@dataclass
class Conversion:
    """What `convert_workflow` made: the API prompt and what the operator should know about it."""

    prompt: dict
    groups: list[GroupInfo] = field(default_factory=list)
    missing: list[MissingNode] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class ApiPrompt(NamedTuple):
    """The prompt to queue and what a caller should pass on about it."""

    prompt: dict
    warnings: list[str]


def to_api_prompt(workflow: dict, object_info: dict) -> ApiPrompt:
    """The API prompt for a UI workflow, against a ComfyUI's `/object_info`, with the warnings to pass on
    (node classes that ComfyUI lacks come first). Raises WorkflowConversionError."""
    conversion = convert_workflow(workflow, object_info)
    lacking = [f"{missing}: this ComfyUI has no such node class." for missing in conversion.missing]
    return ApiPrompt(conversion.prompt, lacking + conversion.warnings)


def convert_workflow(
    workflow: dict,
    object_info: dict,
    *,
    random: RandomSource | None = None,
    now: datetime | None = None,
) -> Conversion:
    """The API prompt ComfyUI's page would queue for `workflow`, given the backend's `/object_info`.

    `random` picks among {a|b} dynamic-prompt choices (ComfyUI's page uses Math.random; the default
    always takes the first choice, so an import is reproducible). Raises WorkflowConversionError.
    """
    if not is_ui_workflow(workflow):
        raise WorkflowConversionError("this is not a ComfyUI workflow (it has no nodes and links).")
    serializer = _Serializer(load_workflow(workflow, object_info), random or (lambda: 0.0), now or datetime.now())
    prompt = serializer.prompt()
    loaded = serializer.loaded
    groups = find_groups(workflow, loaded.root, prompt)
    return Conversion(prompt=prompt, groups=groups, missing=loaded.missing, warnings=loaded.warnings)


class _Serializer:
    """graphToPrompt over a loaded workflow."""

    def __init__(self, loaded: LoadedWorkflow, random: RandomSource, now: datetime) -> None:
        self.loaded = loaded
        self.random = random
        self.now = now

    def prompt(self) -> dict[str, dict]:
        loaded = self.loaded
        apply_primitives(loaded, self.now)
        for graph in loaded.graphs():
            sync_promoted(graph)
        for instance in loaded.group_instances:
            instance.update_inner_widgets()
        prompt: dict[str, dict] = {}
        for dto in flatten(loaded.root).values():
            node = dto.node
            if node.virtual or node.mode in (MODE_NEVER, MODE_BYPASS):
                continue
            inputs: dict[str, Any] = {}
            for widget in node.widgets:
                if not widget.name or not widget.in_prompt:
                    continue
                inputs[widget.name] = _input_value(self._widget_value(node, widget, dto.id))
            for index, slot in enumerate(node.inputs):
                resolved = dto.resolve_input(index, set())
                if resolved is None:
                    continue
                if resolved.is_widget:
                    inputs[slot.name] = _input_value(resolved.widget_value)
                    continue
                inputs[slot.name] = [str(resolved.origin_id), _slot_number(resolved.origin_slot)]
            if node.comfy_class in CAPTURED_AT_QUEUE_TIME:
                loaded.warnings.append(
                    f"node {dto.id} ({node.title}): ComfyUI's page captures this node's picture when it queues; "
                    "the prompt keeps the saved value."
                )
            entry: dict[str, Any] = {"inputs": inputs}
            if node.comfy_class is not None:
                entry["class_type"] = node.comfy_class
            entry["_meta"] = {"title": node.title}
            prompt[dto.id] = entry
        for node_id, entry in prompt.items():  # links to nodes left out (muted, virtual, missing) are dropped
            inputs = entry["inputs"]
            for name, value in list(inputs.items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in prompt:
                    del inputs[name]
                    self._dropped_in_group_node(node_id, entry, name, value[0])
        return js_object_order(prompt)

    def _dropped_in_group_node(self, node_id: str, entry: dict, name: str, origin: str) -> None:
        """An inner node of an old group node loses a link the page cannot follow (to a reroute, a primitive,
        a bypassed node or another group node): the operator should know, the prompt stays the page's."""
        dto_node = next((i.node for i in self.loaded.group_instances if node_id.startswith(f"{i.node.id}:")), None)
        if dto_node is None:
            return
        self.loaded.warnings.append(
            f"node {node_id} ({entry['_meta']['title']}): input {name} is left unconnected, as ComfyUI's page leaves "
            f"it: it comes from node {origin}, which is not in the prompt (inside the old group node {dto_node.id} "
            f"({dto_node.title}) the page follows no reroute, primitive, bypassed node or group node)."
        )

    def _widget_value(self, node: Node, widget: Widget, node_id: str) -> Any:
        """widget.serializeValue: dynamic prompts resolved, save nodes' file name prefixes filled in."""
        value = widget.get()
        if widget.dynamic_prompts and isinstance(value, str):
            processed = process_dynamic_prompt(value, self.random)
            if processed != value:
                self.loaded.warnings.append(
                    f"node {node_id} ({node.title}): {widget.name} uses ComfyUI's dynamic prompt syntax "
                    "(comments, {a|b} choices), which ComfyUI's page resolves when it queues; the prompt holds "
                    "one resolved text."
                )
            return processed
        if node.comfy_class in SAVE_NODE_TYPES and widget.name == "filename_prefix" and isinstance(value, str):
            return apply_text_replacements(value, self.loaded.graphs(), self.now)
        return value


def _input_value(value: Any) -> Any:
    """The value as the page sends it: numbers in JSON's form, a list wrapped so that ComfyUI does not read it
    as a link."""
    value = js_json_value(value)
    return {"__value__": value} if isinstance(value, list) else value


def _slot_number(slot: Any) -> int | None:
    """parseInt(slot): the page sends null where its lookup gave no slot."""
    if isinstance(slot, bool) or not isinstance(slot, (int, float)) or slot != slot:
        return None
    return int(slot)
