"""Primitive nodes (the front end's `PrimitiveNode`): their value is written into every widget they feed,
rounded as the target widget rounds, before the graph is serialised; the node itself is never sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from comfyweb.comfy.workflow.errors import WorkflowConversionError
from comfyweb.comfy.workflow.graph import Graph, Link, Node
from comfyweb.comfy.workflow.js_values import js_number, js_string
from comfyweb.comfy.workflow.layout import WIDGET_TYPES
from comfyweb.comfy.workflow.loading import LoadedWorkflow
from comfyweb.comfy.workflow.text_replacements import apply_text_replacements

PRIMITIVE_REPLACE_PROPERTY = "Run widget replace on values"


def apply_primitives(loaded: LoadedWorkflow, now: datetime) -> None:
    """Every primitive node of the root graph, then of each subgraph, sets the widgets it feeds."""
    for graph in loaded.graphs():
        for node in graph.nodes:
            if node.type == "PrimitiveNode":
                _apply_primitive(node, loaded, now)


def _primitive_value(node: Node, loaded: LoadedWorkflow, now: datetime) -> tuple[bool, Any, list[Link]]:
    root: Graph = loaded.root
    links_out = node.output_links[0] if node.output_links else []
    if not links_out:
        return False, None, []
    first = root.links.get(links_out[0]) if node.graph is root else node.graph.links.get(links_out[0])
    if first is None:
        return False, None, []
    target = node.graph.node(first.target_id)
    if target is None or not (0 <= first.target_slot < len(target.inputs)):
        return False, None, []
    slot = target.inputs[first.target_slot]
    their = target.widget(slot.widget)
    if slot.widget is None and slot.type not in WIDGET_TYPES:
        return False, None, []
    values = node.data.get("widgets_values")
    value = their.get() if their is not None else None
    if isinstance(values, list) and values:
        value = values[0]
        if their is not None and their.kind == "customtext":
            value = js_string(value)
    value = js_number(value)
    if value and node.properties.get(PRIMITIVE_REPLACE_PROPERTY):
        value = apply_text_replacements(str(value), loaded.graphs(), now)
    links = []
    for link_id in links_out:
        link = root.links.get(link_id)  # the front end reads the root graph's links (app.graph.links)
        if link is None:
            raise WorkflowConversionError(
                f"node {node.id} (Primitive): its link {link_id} cannot be found; "
                "ComfyUI's page cannot queue this workflow either."
            )
        links.append(link)
    return True, value, links


def _apply_primitive(node: Node, loaded: LoadedWorkflow, now: datetime) -> None:
    ok, value, links = _primitive_value(node, loaded, now)
    if not ok:
        return
    for link in links:
        target = node.graph.node(link.target_id)
        if target is None or not (0 <= link.target_slot < len(target.inputs)):
            loaded.warnings.append(f"node {node.id} (Primitive): a link leads nowhere; it was ignored.")
            continue
        widget = target.widget(target.inputs[link.target_slot].widget)
        if widget is None:
            continue
        widget.set(value)
        widget.on_change()
