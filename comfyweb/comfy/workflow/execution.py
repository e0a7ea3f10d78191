"""The flattened graph the prompt is read from (the front end's ExecutableNodeDTO): one entry per node, with
an id that carries the path through subgraph instances ("<instance id>:<inner id>"), and the resolution of
each input to the node output it really comes from, through subgraph borders, bypassed nodes and reroutes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from comfyweb.comfy.workflow.errors import WorkflowConversionError
from comfyweb.comfy.workflow.graph import MODE_BYPASS, SUBGRAPH_INPUT_ID, Graph, Node
from comfyweb.comfy.workflow.group_node_instances import GroupInstance, input_link, input_node
from comfyweb.comfy.workflow.js_values import js_equal_types, js_object_order


@dataclass
class Resolved:
    """Where an input's value comes from: a node output, or (for a promoted widget) a value."""

    origin_id: str
    origin_slot: int | None  # None where the page's own lookup comes back empty (it sends null)
    widget_value: Any = None
    is_widget: bool = False


def execution_order(graph: Graph) -> list[Node]:
    """LGraph.computeExecutionOrder: nodes without linked inputs first, each node once all its linked inputs'
    nodes came before it, in the graph's order; what a loop holds back comes last (by id, as an object's keys)."""
    ordered: list[Node] = []
    starts: list[Node] = []
    pending: dict[str, Node] = {}
    remaining: dict[str, int] = {}
    for node in graph.nodes:
        pending[str(node.id)] = node
        linked = sum(1 for slot in node.inputs if slot.link is not None)
        if linked:
            remaining[str(node.id)] = linked
        else:
            starts.append(node)
    visited: set[Any] = set()
    while starts:
        node = starts.pop(0)
        ordered.append(node)
        pending.pop(str(node.id), None)
        for links in node.output_links:
            for link_id in links:
                link = graph.links.get(link_id)
                if link is None or link.id in visited:
                    continue
                visited.add(link.id)
                target = graph.node(link.target_id)
                if target is None or str(target.id) not in remaining:
                    continue
                remaining[str(target.id)] -= 1
                if remaining[str(target.id)] == 0:
                    starts.append(target)
    return ordered + list(js_object_order(pending).values())


def flatten(root: Graph) -> dict[str, ExecutableNode]:
    """Every node of the root graph and, recursively, of each subgraph instance and old group node, by
    execution id, in the order the page adds them (the root graph's nodes in execution order)."""
    executables: dict[str, ExecutableNode] = {}
    for node in execution_order(root):
        if node.group is not None:
            dto: ExecutableNode = GroupNodeExecutable(node, (), executables, None)
            for child in node.group.children:
                executables[child.id] = GroupChildExecutable(child, (node.id,), executables, None)
        else:
            dto = ExecutableNode(node, (), executables, None)
            if node.subgraph is not None:
                _add_instance(node, (), executables, None, set())
        executables[dto.id] = dto
    return executables


def _add_instance(node: Node, path: tuple, executables: dict, parent: Node | None, visited: set) -> None:
    if id(node) in visited:
        raise WorkflowConversionError(f"subgraph node {node.id} contains itself.")
    visited = visited | {id(node)}
    dto = ExecutableNode(node, path, executables, parent)
    executables[dto.id] = dto
    inner_path = (*path, node.id)
    assert node.subgraph is not None
    for inner in node.subgraph.nodes:
        if inner.group is not None:
            raise WorkflowConversionError(
                f"node {_execution_id(*inner_path, inner.id)} is one of ComfyUI's old group nodes inside a subgraph, "
                "which ComfyUI's page cannot queue either; convert the group node to a subgraph."
            )
        if inner.subgraph is not None:
            _add_instance(inner, inner_path, executables, node, visited)
        else:
            inner_dto = ExecutableNode(inner, inner_path, executables, node)
            executables[inner_dto.id] = inner_dto


def _execution_id(*parts: Any) -> str:
    return ":".join(str(part) for part in parts)


class ExecutableNode:
    """ExecutableNodeDTO: one node of the flattened graph, with its id path through subgraph instances."""

    def __init__(self, node: Node, path: tuple, executables: dict, subgraph_node: Node | None) -> None:
        self.node = node
        self.path = path
        self.executables = executables
        self.subgraph_node = subgraph_node
        self.id = _execution_id(*path, node.id)

    def _error(self, reason: str) -> WorkflowConversionError:
        title = f" ({self.node.title})" if self.node.title else ""
        return WorkflowConversionError(f"node {self.id}{title}: {reason}")

    def _visit(self, direction: str, slot: int, visited: set) -> None:
        key = f"{id(self.subgraph_node.subgraph) if self.subgraph_node else None}:{self.node.id}[{direction}]{slot}"
        if key in visited:
            raise self._error("its links go round in a circle.")
        visited.add(key)

    def resolve_input(self, slot: int, visited: set, type_: Any = None) -> Resolved | None:
        self._visit("I", slot, visited)
        if not (0 <= slot < len(self.node.inputs)):
            raise self._error(f"it has no input {slot}.")
        link_id = self.node.inputs[slot].link
        if link_id is None:
            return None
        graph = self.node.graph
        link = graph.links.get(link_id)
        if link is None:
            raise self._error(
                f"its input {self.node.inputs[slot].name} points at link {link_id}, which does not exist."
            )
        outer = self.subgraph_node
        if outer is not None and link.origin_id == SUBGRAPH_INPUT_ID:
            return self._resolve_subgraph_input(outer, link.origin_slot, visited)
        origin = graph.node(link.origin_id)
        if origin is None:
            raise self._error(
                f"its input {self.node.inputs[slot].name} comes from node {link.origin_id}, which does not exist."
            )
        origin_dto = self.executables.get(_execution_id(*self.path, origin.id))
        if origin_dto is None:
            raise self._error(f"node {origin.id} is missing from the flattened graph.")
        return origin_dto.resolve_output(
            link.origin_slot, type_ if type_ is not None else self.node.inputs[slot].type, visited
        )

    def _resolve_subgraph_input(self, outer: Node, index: int, visited: set) -> Resolved | None:
        """An inner input fed by the subgraph's input `index`: the instance's link, or its promoted widget."""
        if not (0 <= index < len(outer.inputs)):
            raise self._error(f"the subgraph has no input {index}.")
        outer_slot = outer.inputs[index]
        if outer_slot.link is None:
            widget = outer.widget(outer_slot.widget)
            if widget is None:
                return None
            return Resolved(self.id, -1, widget.get(), is_widget=True)
        outer_link = outer.graph.links.get(outer_slot.link)
        if outer_link is None:
            raise self._error(f"the subgraph's input {outer_slot.name} points at a link that does not exist.")
        outer_dto = self.executables.get(_execution_id(*self.path))
        if outer_dto is None:
            raise self._error("its subgraph node is missing.")
        return outer_dto.resolve_input(outer_link.target_slot, visited)

    def resolve_output(self, slot: int, type_: Any, visited: set) -> Resolved | None:
        self._visit("O", slot, visited)
        node = self.node
        if node.mode == MODE_BYPASS:
            index = self._bypass_slot(slot, type_)
            if index == -1:
                return None
            return self.resolve_input(index, visited)
        if node.subgraph is not None:
            return self._resolve_subgraph_output(slot, type_, visited)
        if node.virtual:
            if 0 <= slot < len(node.inputs) and node.inputs[slot].link is not None:
                link = node.graph.links.get(node.inputs[slot].link)
                if link is None:
                    return None
                target = node.graph.node(link.target_id)
                if target is None:
                    raise self._error("a link of this node leads nowhere.")
                target_dto = self.executables.get(_execution_id(*self.path, target.id))
                if target_dto is None:
                    raise self._error(f"node {target.id} is missing from the flattened graph.")
                return target_dto.resolve_input(link.target_slot, visited, type_)
            return None
        return Resolved(self.id, slot)

    def _bypass_slot(self, slot: int, type_: Any) -> int:
        inputs = self.node.inputs
        if not (0 <= slot < len(self.node.outputs)):
            raise self._error(f"it has no output {slot}.")
        output_type = self.node.outputs[slot].type
        if type_ in ("*", ""):
            return slot if len(inputs) > slot else 0
        opposite = inputs[slot] if slot < len(inputs) else None
        if opposite and js_equal_types(opposite.type, output_type) and js_equal_types(opposite.type, type_):
            return slot
        for index, candidate in enumerate(inputs):
            if candidate.type == type_:
                return index
        for index, candidate in enumerate(inputs):
            if js_equal_types(candidate.type, output_type) and js_equal_types(candidate.type, type_):
                return index
        return -1

    def _resolve_subgraph_output(self, slot: int, type_: Any, visited: set) -> Resolved | None:
        subgraph = self.node.subgraph
        assert subgraph is not None
        if not (0 <= slot < len(self.node.outputs)) or slot >= len(subgraph.outputs):
            raise self._error(f"the subgraph has no output {slot}.")
        link = next((subgraph.links[i] for i in subgraph.outputs[slot].link_ids if i in subgraph.links), None)
        if link is None:
            return None
        inner = subgraph.node(link.origin_id)
        if inner is None:
            raise self._error(f"the subgraph's output {subgraph.outputs[slot].name} comes from no node.")
        inner_dto = self.executables.get(_execution_id(*self.path, self.node.id, inner.id))
        if inner_dto is None:
            raise self._error(f"inner node {inner.id} is missing from the flattened graph.")
        return inner_dto.resolve_output(link.origin_slot, type_, visited)


class GroupNodeExecutable(ExecutableNode):
    """ExecutableGroupNodeDTO: an old group node, never sent itself; its outputs lead to its inner nodes."""

    @property
    def instance(self) -> GroupInstance:
        assert self.node.group is not None
        return self.node.group

    def resolve_output(self, slot: int, type_: Any, visited: set) -> Resolved | None:
        node = self.node
        if node.mode == MODE_BYPASS:  # the input at this slot, else the first, of exactly the type asked for
            for index in [slot, *range(len(node.inputs))]:
                if 0 <= index < len(node.inputs) and node.inputs[index].type == type_:
                    return self.resolve_input(index, visited)
            return None
        links = node.output_links[slot] if 0 <= slot < len(node.output_links) else []
        link = node.graph.links.get(links[0]) if links else None
        if link is None:
            raise self._error(f"its output {slot} has no link the page can follow.")
        updated = self.instance.update_link(link.origin_slot)
        if updated is None:
            raise self._error(f"its output {slot} leads to no inner node.")
        origin_id, origin_slot = updated
        if not any(child.id == origin_id for child in self.instance.children):
            raise self._error(f"its output {slot} leads outside the group node.")
        return Resolved(_execution_id(self.id, str(origin_id).split(":")[-1]), origin_slot)


class GroupChildExecutable(ExecutableNode):
    """ExecutableGroupNodeChildDTO: an inner node of an old group node. Its inputs are looked up through the
    group's maps, and taken as they are: the page follows no reroute, bypass or group node from there."""

    def __init__(self, node: Node, path: tuple, executables: dict, subgraph_node: Node | None) -> None:
        super().__init__(node, path, executables, subgraph_node)
        self.id = str(node.id)

    def resolve_input(self, slot: int, visited: set, type_: Any = None) -> Resolved | None:
        source = input_node(self.node, slot)
        if source is None:
            return None
        link = input_link(self.node, slot)
        if link is None:
            raise self._error(f"its input {slot} has no link.")
        source_id = str(source.id)
        if source_id not in self.executables and source_id.split(":")[-1] not in self.executables:
            raise self._error(f"its input {slot} comes from node {source_id}, which is not in the graph.")
        return Resolved(source_id, link[1])
