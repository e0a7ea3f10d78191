"""Loading a saved UI workflow the way the front end's `app.loadGraphData` does: node classes renamed, each
node built from the backend's definition of its class and filled from `widgets_values`, subgraph
definitions loaded before the root graph, links re-pointed at the inputs that hold them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from comfyweb.comfy.workflow.graph import Graph, Node, Slot, saved_link_id, saved_slot
from comfyweb.comfy.workflow.group_node_instances import GroupInstance
from comfyweb.comfy.workflow.group_nodes import (
    PREFIX,
    GroupNodeType,
    GroupRegistry,
    modern_type,
    register_group_types,
)
from comfyweb.comfy.workflow.layout import Layout, build_layout, migrate_widgets_values
from comfyweb.comfy.workflow.subgraphs import promote_widgets

# Types the front end renames on load (old names, typos; app.loadGraphData).
TYPE_RENAMES = {
    "T2IAdapterLoader": "ControlNetLoader",
    "ConditioningAverage ": "ConditioningAverage",
    "SDV_img2vid_Conditioning": "SVD_img2vid_Conditioning",
    "Load3DAnimation": "Load3D",
    "Preview3DAnimation": "Preview3D",
}
# Node types that exist only in the front end: never in a prompt.
FRONTEND_NODES = {"PrimitiveNode", "Reroute", "Note", "MarkdownNote"}


@dataclass
class MissingNode:
    """A node whose class the backend does not have (a custom node that is not installed)."""

    node_id: str
    class_type: str
    title: str
    subgraph: str = ""  # the subgraph's name when the node sits in one
    group: str = ""  # the group node type when the class is one of its inner nodes'

    def __str__(self) -> str:
        where = f" in subgraph {self.subgraph}" if self.subgraph else ""
        if self.group:
            where += f" in group node {self.group}"
        return f"node {self.node_id} “{self.title}” ({self.class_type}){where}"


@dataclass
class LoadedWorkflow:
    """The workflow as the page holds it after loading, and what loading found."""

    root: Graph
    subgraphs: dict[str, Graph] = field(default_factory=dict)
    group_instances: list[GroupInstance] = field(default_factory=list)
    missing: list[MissingNode] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def graphs(self) -> list[Graph]:
        """The root graph, then every subgraph definition."""
        return [self.root, *self.subgraphs.values()]


def load_workflow(workflow: dict, object_info: dict) -> LoadedWorkflow:
    """Build the graphs of `workflow` (which is not changed) against the backend's `/object_info`."""
    return _Loader(copy.deepcopy(workflow), object_info).load()


class _Loader:
    def __init__(self, workflow: dict, object_info: dict) -> None:
        self.workflow = workflow
        self.object_info = object_info
        self.layouts: dict[str, Layout | None] = {}
        self.definitions: dict[str, dict] = {}
        self.subgraphs: dict[str, Graph] = {}
        self.groups = GroupRegistry()
        self.group_layouts: dict[str, Layout] = {}
        self.group_instances: list[GroupInstance] = []
        self.missing: list[MissingNode] = []
        self.warnings: list[str] = []

    def layout(self, class_type: str) -> Layout | None:
        if class_type not in self.layouts:
            definition = self.object_info.get(class_type)
            self.layouts[class_type] = build_layout(class_type, definition) if isinstance(definition, dict) else None
        return self.layouts[class_type]

    def load(self) -> LoadedWorkflow:
        for definition in (self.workflow.get("definitions") or {}).get("subgraphs") or []:
            if isinstance(definition, dict) and definition.get("id"):
                self.definitions[str(definition["id"])] = definition
        self._register_group_nodes()
        root = Graph(self.workflow)
        for definition_id, definition in self.definitions.items():
            self.subgraphs[definition_id] = Graph(definition, root, definition)
        # As LGraph.configure: subgraphs in file order, then the root; an instance gets its promoted widgets
        # when it is configured, from whatever its subgraph holds by then.
        configured: set[int] = set()
        for definition_id, definition in self.definitions.items():
            graph = self.subgraphs[definition_id]
            self._load_nodes(graph, definition.get("nodes") or [], definition.get("name") or "")
            promote_widgets(graph, configured, self.warnings)
            configured.add(id(graph))
        self._load_nodes(root, self.workflow.get("nodes") or [], "")
        promote_widgets(root, configured, self.warnings)
        for graph in [root, *self.subgraphs.values()]:
            fix_link_slots(graph)
            self._drop_inputs_without_widgets(graph)
        for node in root.nodes:  # app.loadGraphData patches old sampler names on the root graph's nodes
            widget = node.widget("sampler_name") if node.type in ("KSampler", "KSamplerAdvanced") else None
            if widget is not None and isinstance(widget.value, str) and widget.value.startswith("sample_"):
                widget.value = widget.value[7:]
        return LoadedWorkflow(root, self.subgraphs, self.group_instances, self.missing, self.warnings)

    def _register_group_nodes(self) -> None:
        """The group node types of `extra.groupNodes`, registered before the graph is built (beforeConfigureGraph);
        root nodes saved with the old separator (`workflow/Name`) get the current one."""
        extra = self.workflow.get("extra")
        group_nodes = extra.get("groupNodes") if isinstance(extra, dict) else None
        if not isinstance(group_nodes, dict):
            return
        for node in self.workflow.get("nodes") or []:
            if isinstance(node, dict) and isinstance(node.get("type"), str):
                node["type"] = modern_type(node["type"])
        known = set(self.object_info) | FRONTEND_NODES | set(self.definitions)
        self.groups = register_group_types(group_nodes, self.object_info, known)
        self.warnings.extend(self.groups.warnings)

    def _load_nodes(self, graph: Graph, nodes: list, where: str) -> None:
        for data in nodes:
            if not isinstance(data, dict) or "id" not in data:
                continue
            node = self._make_node(graph, data, where)
            graph.add(node)

    def _make_node(self, graph: Graph, data: dict, where: str, *, inner: bool = False) -> Node:
        node_type = str(data.get("type") or "")
        if not inner:  # the page renames classes of the graph's nodes only, not of a group node's inner ones
            node_type = TYPE_RENAMES.get(node_type, node_type)
        mode = data.get("mode") if isinstance(data.get("mode"), int) else 0
        properties = dict(data.get("properties") or {}) if isinstance(data.get("properties"), dict) else {}
        saved_inputs = [i for i in data.get("inputs") or [] if isinstance(i, dict)]
        saved_outputs = [o for o in data.get("outputs") or [] if isinstance(o, dict)]
        title = data.get("title") or ""
        if node_type in self.definitions:
            return self._make_subgraph_node(graph, data, node_type, mode, properties, saved_inputs, saved_outputs)
        group_type = self.groups.registered.get(node_type)
        if group_type is not None:
            layout = self._group_layout(group_type)
            node = self._defined_node(graph, data, node_type, layout, mode, properties, saved_inputs, saved_outputs)
            if not inner:  # an instance; a group node inside a group node is sent as it is, as the page does
                node.virtual = True
                self._add_group_instance(node, group_type, where)
            return node
        if node_type in self.groups.unregistered:
            return self._unregistered_group_node(graph, data, node_type, mode, properties, saved_inputs, saved_outputs)
        layout = self.layout(node_type) if node_type not in FRONTEND_NODES else None
        if layout is None:
            inputs = [saved_slot(i) for i in saved_inputs]
            outputs = [saved_slot(o) for o in saved_outputs]
            node = Node(
                data["id"],
                node_type,
                graph,
                mode,
                title or node_type,
                inputs,
                outputs,
                [],
                properties,
                data,
                virtual=node_type in FRONTEND_NODES,
            )
            node.output_links = [list(o.get("links") or []) for o in saved_outputs]
            if node_type == "Reroute":
                node.inputs = node.inputs[:1] or [Slot("", "*")]
            if node_type not in FRONTEND_NODES:
                node.comfy_class = node_type
                self.missing.append(MissingNode(str(data["id"]), node_type, title or node_type, where))
            return node
        return self._defined_node(graph, data, node_type, layout, mode, properties, saved_inputs, saved_outputs)

    def _defined_node(self, graph, data, node_type, layout, mode, properties, saved_inputs, saved_outputs) -> Node:
        """A node of a class the page has a definition for (ComfyNode.configure: saved inputs by name)."""
        title = data.get("title") or ""
        by_name: dict[str, dict] = {}
        for saved in saved_inputs:
            by_name[str(saved.get("name"))] = saved
        inputs = []
        for spec in layout.inputs:
            saved = by_name.get(spec.name)
            widget = spec.widget if spec.widget else ((saved or {}).get("widget") or {}).get("name")
            inputs.append(Slot(spec.name, spec.type, saved_link_id(saved), widget))
        defined = {spec.name for spec in layout.inputs}
        inputs.extend(saved_slot(saved) for saved in saved_inputs if str(saved.get("name")) not in defined)
        outputs = [Slot(spec.name, spec.type) for spec in layout.outputs]
        outputs.extend(saved_slot(saved) for saved in saved_outputs[len(outputs) :])
        widgets = [copy.copy(w) for w in layout.widgets]
        node = Node(
            data["id"],
            node_type,
            graph,
            mode,
            title or layout.title,
            inputs,
            outputs,
            widgets,
            properties,
            data,
            comfy_class=node_type,
            backend_class=True,
        )
        node.output_links = [list(o.get("links") or []) for o in saved_outputs]
        values = migrate_widgets_values(layout, widgets, data.get("widgets_values"))
        if isinstance(values, list):
            with_slots = [w for w in widgets if w.has_slot]
            for index, value in enumerate(values):
                if index < len(with_slots):
                    with_slots[index].set(value)
        return node

    def _group_layout(self, group_type: GroupNodeType) -> Layout:
        if group_type.type_name not in self.group_layouts:
            self.group_layouts[group_type.type_name] = build_layout(group_type.type_name, group_type.definition)
        return self.group_layouts[group_type.type_name]

    def _add_group_instance(self, node: Node, group_type: GroupNodeType, where: str) -> None:
        """The instance's inner nodes, built from the group's stored ones with ids "<instance>:<index>"."""
        instance = GroupInstance(group_type, node)
        for index, stored in enumerate(group_type.nodes):
            child = self._make_node(node.graph, {**stored, "id": f"{node.id}:{index}"}, where, inner=True)
            child.group_child = (instance, index)
            instance.children.append(child)
        node.group = instance
        self.group_instances.append(instance)
        self.warnings.append(
            f"node {node.id} ({node.title}) is one of ComfyUI's old group nodes ({group_type.type_name}); it was "
            "expanded as ComfyUI's page expands it. Converting it to a subgraph in ComfyUI keeps it working."
        )

    def _unregistered_group_node(self, graph, data, node_type, mode, properties, saved_inputs, saved_outputs) -> Node:
        """A group node whose type the page cannot register: its inner classes are missing."""
        title = data.get("title") or node_type.removeprefix(PREFIX)
        node = Node(
            data["id"], node_type, graph, mode, title, [saved_slot(i) for i in saved_inputs], [], [], properties, data
        )
        node.outputs = [saved_slot(o) for o in saved_outputs]
        node.output_links = [list(o.get("links") or []) for o in saved_outputs]
        node.comfy_class = node_type
        lacking = self.groups.unregistered[node_type] or [node_type]
        self.missing.extend(MissingNode(str(data["id"]), kind, title, group=node_type) for kind in lacking)
        return node

    def _make_subgraph_node(self, graph, data, node_type, mode, properties, saved_inputs, saved_outputs) -> Node:
        subgraph = self.subgraphs[node_type]
        by_name = {str(saved.get("name")): saved for saved in saved_inputs}
        inputs = []
        for io in subgraph.inputs:  # the subgraph's inputs in order, with the saved links by name
            saved = by_name.get(io.name)
            slot = saved_slot(saved) if saved else Slot(io.name, io.type)
            slot.type = io.type
            inputs.append(slot)
        defined = {io.name for io in subgraph.inputs}
        inputs.extend(saved_slot(saved) for saved in saved_inputs if str(saved.get("name")) not in defined)
        outputs = [Slot(io.name, io.type) for io in subgraph.outputs]
        for index, saved in enumerate(saved_outputs):
            if index < len(outputs):
                outputs[index] = saved_slot(saved)
            else:
                outputs.append(saved_slot(saved))
        title = data.get("title") or (self.definitions[node_type].get("name") or "")
        node = Node(data["id"], node_type, graph, mode, title, inputs, outputs, [], properties, data, virtual=True)
        node.subgraph = subgraph
        node.output_links = [list(o.get("links") or []) for o in saved_outputs]
        return node

    def _drop_inputs_without_widgets(self, graph: Graph) -> None:
        """widgetInputs.ts: an input saved as a widget input whose widget the node class no longer has goes,
        with its link (a workflow saved by a newer ComfyUI, for an input this backend does not know)."""
        for node in graph.nodes:
            if not node.backend_class:
                continue
            kept = []
            for slot in node.inputs:
                if slot.widget and node.widget(slot.widget) is None:
                    if slot.link is not None:
                        graph.links.pop(slot.link, None)
                    self.warnings.append(
                        f"node {node.id} ({node.title}): input {slot.name} is unknown to this backend; it was left out."
                    )
                    continue
                kept.append(slot)
            node.inputs = kept
        fix_link_slots(graph)


def fix_link_slots(graph: Graph) -> None:
    """fixLinkInputSlots: a link's target slot is the index of the input that holds it."""
    for node in graph.nodes:
        for index, slot in enumerate(node.inputs):
            if slot.link is not None and slot.link in graph.links:
                graph.links[slot.link].target_slot = index
