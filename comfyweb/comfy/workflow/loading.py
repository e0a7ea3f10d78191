"""Loading a saved UI workflow the way the front end's `app.loadGraphData` does: node classes renamed, each
node built from the backend's definition of its class and filled from `widgets_values`, subgraph
definitions loaded before the root graph, links re-pointed at the inputs that hold them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from comfyweb.comfy.workflow.errors import WorkflowConversionError
from comfyweb.comfy.workflow.graph import Graph, Node, Slot, saved_link_id, saved_slot
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

    def __str__(self) -> str:
        where = f" in subgraph {self.subgraph}" if self.subgraph else ""
        return f"node {self.node_id} “{self.title}” ({self.class_type}){where}"


@dataclass
class LoadedWorkflow:
    """The workflow as the page holds it after loading, and what loading found."""

    root: Graph
    subgraphs: dict[str, Graph] = field(default_factory=dict)
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
        self.missing: list[MissingNode] = []
        self.warnings: list[str] = []

    def layout(self, class_type: str) -> Layout | None:
        if class_type not in self.layouts:
            definition = self.object_info.get(class_type)
            self.layouts[class_type] = build_layout(class_type, definition) if isinstance(definition, dict) else None
        return self.layouts[class_type]

    def load(self) -> LoadedWorkflow:
        extra = self.workflow.get("extra") if isinstance(self.workflow.get("extra"), dict) else {}
        if extra.get("groupNodes"):
            raise WorkflowConversionError(
                "this workflow uses ComfyUI's old “group nodes”; convert them to subgraphs in ComfyUI and save again."
            )
        for definition in (self.workflow.get("definitions") or {}).get("subgraphs") or []:
            if isinstance(definition, dict) and definition.get("id"):
                self.definitions[str(definition["id"])] = definition
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
        return LoadedWorkflow(root, self.subgraphs, self.missing, self.warnings)

    def _load_nodes(self, graph: Graph, nodes: list, where: str) -> None:
        for data in nodes:
            if not isinstance(data, dict) or "id" not in data:
                continue
            node = self._make_node(graph, data, where)
            graph.add(node)

    def _make_node(self, graph: Graph, data: dict, where: str) -> Node:
        node_type = str(data.get("type") or "")
        node_type = TYPE_RENAMES.get(node_type, node_type)
        mode = data.get("mode") if isinstance(data.get("mode"), int) else 0
        properties = dict(data.get("properties") or {}) if isinstance(data.get("properties"), dict) else {}
        saved_inputs = [i for i in data.get("inputs") or [] if isinstance(i, dict)]
        saved_outputs = [o for o in data.get("outputs") or [] if isinstance(o, dict)]
        title = data.get("title") or ""
        if node_type in self.definitions:
            return self._make_subgraph_node(graph, data, node_type, mode, properties, saved_inputs, saved_outputs)
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
