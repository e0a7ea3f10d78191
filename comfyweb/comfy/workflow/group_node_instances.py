"""One instance of an old group node on the canvas, as the front end's GroupNodeHandler runs it when the page
queues: inner nodes built afresh from the group's stored nodes (ids "<instance id>:<index>"), the
instance's widget values copied into them, and the links between them and the outer graph looked up through
the group's maps (group_nodes.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comfyweb.comfy.workflow.errors import WorkflowConversionError
from comfyweb.comfy.workflow.graph import Node
from comfyweb.comfy.workflow.group_nodes import GroupNodeType, js_key

LinkEnd = tuple[Any, Any]  # (origin node id, origin slot) of a link


@dataclass
class GroupInstance:
    """A group node on the root graph and its inner nodes."""

    type: GroupNodeType
    node: Node
    children: list[Node] = field(default_factory=list)

    def _error(self, reason: str) -> WorkflowConversionError:
        return WorkflowConversionError(f"group node {self.node.id} ({self.node.title}): {reason}")

    def child(self, index: Any) -> Node:
        if not isinstance(index, int) or isinstance(index, bool) or not (0 <= index < len(self.children)):
            raise self._error(f"its stored links name inner node {index}, which it does not have.")
        return self.children[index]

    def update_inner_widgets(self) -> None:
        """updateInnerWidgets: each widget of the instance sets the inner widget it stands for (a primitive's
        widget sets the widgets the primitive feeds; a reroute's, the widgets behind it)."""
        for name, (index, input_name) in self.type.widget_sources.items():
            outer = self.node.widget(name)
            if outer is None:
                continue
            value = outer.get()
            inner = self.child(index)
            if inner.type == "PrimitiveNode":
                for target_index, target_input in self.type.primitive_targets.get(js_key(index), []):
                    widget = self.child(target_index).widget(target_input)
                    if widget is not None:
                        widget.set(value)
                continue
            if inner.type == "Reroute":
                for link in self.type.links_from.get(js_key(index), {}).get("0") or []:
                    target = self.child(link[2])
                    if not (isinstance(link[3], int) and 0 <= link[3] < len(target.inputs)):
                        raise self._error(f"a stored link leads to input {link[3]} of inner node {link[2]}.")
                    slot = target.inputs[link[3]]
                    widget = target.widget(slot.widget) if slot.widget else None
                    if widget is not None:
                        widget.set(value)
            widget = inner.widget(input_name)
            if widget is not None:
                widget.set(value)

    # --- links ---------------------------------------------------------------------------------------------

    def _external_slot(self, index: int, slot: int) -> int | None:
        return self.type.input_map.get(js_key(index), {}).get(js_key(slot))

    def _internal_link(self, index: int, slot: int) -> list | None:
        return self.type.links_to.get(js_key(index), {}).get(js_key(slot)) or None

    def child_input_node(self, index: int, slot: int) -> Node | None:
        """getInputNode of inner node `index`: through the instance's input, or the inner node linked to it
        (a primitive counts as none: its value is already in the widget)."""
        external = self._external_slot(index, slot)
        if external is not None:
            return input_node(self.node, external)
        link = self._internal_link(index, slot)
        if link is None:
            return None
        source = self.child(link[0])
        return None if source.type == "PrimitiveNode" else source

    def child_input_link(self, index: int, slot: int) -> LinkEnd | None:
        """getInputLink of inner node `index`: the outer link into the instance, or the stored inner one."""
        external = self._external_slot(index, slot)
        if external is not None:
            if not (0 <= external < len(self.node.inputs)):
                raise self._error(f"it has no input {external}.")
            link = self.node.graph.links.get(self.node.inputs[external].link)
            return (link.origin_id, link.origin_slot) if link is not None else (None, None)
        link = self._internal_link(index, slot)
        if link is None:
            return None
        return (self.child(link[0]).id, link[1])

    def update_link(self, origin_slot: Any) -> LinkEnd | None:
        """updateLink: the inner node and slot behind output `origin_slot` of the instance, past reroutes."""
        source = self.type.output_sources.get(js_key(origin_slot))
        if source is None:
            raise self._error(f"it has no output {origin_slot}.")
        index, slot = source
        inner: Node | None = self.children[index] if 0 <= index < len(self.children) else None
        link: LinkEnd | None = None
        for _hop in range(len(self.children) + len(self.node.graph.nodes) + 1):
            if inner is None or inner.type != "Reroute":
                break
            link = input_link(inner, 0)
            inner = input_node(inner, 0)
        else:
            raise self._error("its reroutes go round in a circle.")
        if inner is None:
            return None
        if link is not None and inner.group is not None:
            return inner.group.update_link(link[1])
        return (inner.id, link[1] if link is not None and link[1] is not None else slot)


def input_node(node: Node, slot: int) -> Node | None:
    """LGraphNode.getInputNode, or the group's version for an inner node of a group node."""
    if node.group_child is not None:
        instance, index = node.group_child
        return instance.child_input_node(index, slot)
    if not (0 <= slot < len(node.inputs)) or node.inputs[slot].link is None:
        return None
    link = node.graph.links.get(node.inputs[slot].link)
    return node.graph.node(link.origin_id) if link is not None else None


def input_link(node: Node, slot: int) -> LinkEnd | None:
    """LGraphNode.getInputLink, or the group's version for an inner node of a group node."""
    if node.group_child is not None:
        instance, index = node.group_child
        return instance.child_input_link(index, slot)
    if not (0 <= slot < len(node.inputs)) or node.inputs[slot].link is None:
        return None
    link = node.graph.links.get(node.inputs[slot].link)
    return (link.origin_id, link.origin_slot) if link is not None else None
