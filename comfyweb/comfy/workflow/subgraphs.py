"""Subgraph instances' promoted widgets: each instance shows one widget per subgraph input that feeds an
inner widget, with its own saved value, and copies those values into the inner widgets when the page
serialises it (SubgraphNode.configure / serialize)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

from comfyweb.comfy.workflow.graph import Graph, Node, SubgraphIO
from comfyweb.comfy.workflow.widgets import Widget


def promote_widgets(graph: Graph, configured: set[int], warnings: list[str]) -> None:
    """Give every subgraph instance of `graph` its promoted widgets and their saved values; `configured`
    holds the subgraphs already loaded (an instance of one loaded later gets no widgets, as on the page)."""
    for node in graph.nodes:
        if node.subgraph is not None:
            _promote(node, id(node.subgraph) in configured, warnings)


def _promote(node: Node, ready: bool, warnings: list[str]) -> None:
    """SubgraphNode.configure: one widget per subgraph input that feeds an inner widget, then the saved values."""
    subgraph = node.subgraph
    assert subgraph is not None
    node.widgets = []
    if not ready:
        return
    for slot in node.inputs:
        io = next((io for io in subgraph.inputs if io.name == slot.name), None)
        if io is None:
            continue
        for link_id in io.link_ids:
            link = subgraph.links.get(link_id)
            if link is None:
                continue
            # The front end promotes before it re-points links at their inputs: the slot is the saved one.
            inner = subgraph.node(link.target_id)
            slot_index = link.saved_target_slot
            target = inner.inputs[slot_index] if inner and 0 <= slot_index < len(inner.inputs) else None
            widget = inner.widget(target.widget) if inner and target and target.widget else None
            if widget is None:
                continue
            meant = inner.inputs[link.target_slot].widget if 0 <= link.target_slot < len(inner.inputs) else None
            if meant != widget.name:
                warnings.append(
                    f"node {node.id} ({node.title}): ComfyUI's page gives the subgraph input {io.name} the value "
                    f"of widget {widget.name} of inner node {inner.id} (the file's links are out of date); "
                    "check the value in the prompt."
                )
            promoted = copy.copy(widget)
            promoted.value = widget.get()
            promoted.upload_default = None
            promoted.name = io.name
            count = sum(1 for s in node.inputs if s.widget)
            node.widgets.insert(min(count, len(node.widgets)), promoted)
            slot.widget = io.name
            break
    values = node.data.get("widgets_values")
    if isinstance(values, list):
        with_slots = [w for w in node.widgets if w.has_slot]
        for index, value in enumerate(values):
            if index < len(with_slots):
                with_slots[index].set(value)
    _apply_proxy_widgets(node, values)


def _apply_proxy_widgets(node: Node, values: object) -> None:
    """The `proxyWidgets` property: which promoted widgets the instance lists, in which order."""
    proxies = node.properties.get("proxyWidgets")
    if not (isinstance(proxies, list) and all(isinstance(p, list) and len(p) == 2 for p in proxies)):
        return
    parsed = [(str(p[0]), str(p[1])) for p in proxies]
    kept = [w for w in node.widgets if not any(w.name == name for _id, name in parsed)]
    listed = []
    for proxied_id, name in parsed:
        if proxied_id == "-1":
            widget = node.widget(name)
            if widget is not None:
                listed.append(widget)
    node.widgets = kept + listed
    if isinstance(values, list):
        for index, value in enumerate(values):
            if index < len(parsed) and parsed[index][0] == "-1":
                widget = node.widget(parsed[index][1])
                if value is not None and widget is not None:
                    widget.set(value)


def sync_promoted(graph: Graph) -> None:
    """SubgraphNode.serialize(): promoted widget values are copied into the widgets they stand for."""
    for node in graph.nodes:
        if node.subgraph is None:
            continue
        for widget in node.widgets:
            if not any(slot.name == widget.name for slot in node.inputs):
                continue
            io = next((io for io in node.subgraph.inputs if io.name == widget.name), None)
            if io is None:
                continue
            for inner_widget in _connected_widgets(node.subgraph, io):
                inner_widget.set(widget.value)


def _connected_widgets(subgraph: Graph, io: SubgraphIO) -> Iterator[Widget]:
    for link_id in io.link_ids:
        link = subgraph.links.get(link_id)
        if link is None:
            continue
        inner = subgraph.node(link.target_id)
        if inner is None or not (0 <= link.target_slot < len(inner.inputs)):
            continue
        widget = inner.widget(inner.inputs[link.target_slot].widget)
        if widget is not None:
            yield widget
