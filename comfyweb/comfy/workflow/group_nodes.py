"""ComfyUI's old group nodes (`extra.groupNodes`): each entry becomes a node type `workflow>Name` whose
inputs, widgets and outputs are those of its inner nodes, as the front end's GroupNodeConfig registers it.

The front end keeps these workflows loading and queueing (subgraphs replaced group nodes for new work). The
type is worked out rule by rule from the stored inner nodes and the backend's node classes, including the
front end's own slips (slot positions taken from the order inputs had when the group was made), because the
prompt must be the one ComfyUI's page queues. What an instance does with it is in group_node_instances.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from comfyweb.comfy.workflow.layout import SEED_NAMES, frontend_inputs, is_widget_input

PREFIX = "workflow>"
LEGACY_PREFIX = "workflow/"  # the separator before front end 1.2.63


def js_key(value: Any) -> str:
    """The property name JavaScript makes of `value` (object keys are strings)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def modern_type(node_type: str) -> str:
    """replaceLegacySeparators: `workflow/Name` is `workflow>Name`."""
    return PREFIX + node_type[len(LEGACY_PREFIX) :] if node_type.startswith(LEGACY_PREFIX) else node_type


@dataclass
class GroupNodeType:
    """A registered group node type: the node definition its instances are built from, and the maps between
    the group's slots and widgets and those of its inner nodes (keys are JavaScript property names)."""

    name: str
    nodes: list[dict]  # the stored inner nodes, each with its "index"
    definition: dict  # in /object_info form
    links_from: dict[str, dict[str, list[list]]] = field(default_factory=dict)
    links_to: dict[str, dict[str, list]] = field(default_factory=dict)
    external_from: dict[str, dict[str, Any]] = field(default_factory=dict)
    input_map: dict[str, dict[str, int]] = field(default_factory=dict)  # inner node → inner slot → group input
    widget_map: dict[str, dict[str, str | None]] = field(default_factory=dict)  # inner node → input → widget
    widget_sources: dict[str, tuple[int, str]] = field(default_factory=dict)  # widget → (inner node, input)
    output_sources: dict[str, tuple[int, int]] = field(default_factory=dict)  # group output → (inner node, slot)
    primitive_targets: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)  # primitive → its widgets

    @property
    def type_name(self) -> str:
        return PREFIX + self.name


@dataclass
class GroupRegistry:
    """The group node types a workflow defines: those registered, and those the page cannot register (with
    the inner node classes the backend lacks, if that is why)."""

    registered: dict[str, GroupNodeType] = field(default_factory=dict)
    unregistered: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def register_group_types(group_nodes: dict, object_info: dict, known_types: Iterable[str]) -> GroupRegistry:
    """GroupNodeConfig.registerFromWorkflow: a group is registered when all its inner node classes are known."""
    known = set(known_types)
    registry = GroupRegistry()
    for name in _js_key_order(group_nodes):
        data = group_nodes[name]
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, list) or not all(isinstance(node, dict) for node in nodes):
            registry.unregistered[PREFIX + name] = []
            registry.warnings.append(f"group node type {PREFIX + name} has no list of inner nodes; it was left out.")
            continue
        lacking = [str(node.get("type")) for node in nodes if node.get("type") not in known]
        if lacking:
            registry.unregistered[PREFIX + name] = lacking
            continue
        try:
            group = _Registration(name, data, object_info).register()
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            registry.unregistered[PREFIX + name] = []
            registry.warnings.append(
                f"group node type {PREFIX + name} cannot be built from its inner nodes, on ComfyUI's page either "
                f"({type(exc).__name__}: {exc}); it was left out."
            )
            continue
        registry.registered[group.type_name] = group
        known.add(group.type_name)
    return registry


def _js_key_order(obj: dict) -> list[str]:
    indices = sorted((k for k in obj if k.isascii() and k.isdigit() and str(int(k)) == k), key=int)
    return indices + [k for k in obj if k not in set(indices)]


class _Registration:
    """GroupNodeConfig.registerType for one entry of `extra.groupNodes`."""

    def __init__(self, name: str, data: dict, object_info: dict) -> None:
        self.data = data
        self.object_info = object_info
        self.nodes = [dict(node, index=index) for index, node in enumerate(data["nodes"])]
        self.group = GroupNodeType(name, self.nodes, {})
        self.required: dict[str, list] = {}
        self.outputs: list[Any] = []
        self.output_names: list[str] = []
        self.input_count = 0
        self.primitive_defs: dict[str, dict] = {}
        self.converted_later: list[tuple] = []
        self._index_links()

    def register(self) -> GroupNodeType:
        seen_inputs: dict[str, int] = {}
        seen_outputs: set[str] = set()
        for node in self.nodes:
            self._process_node(node, seen_inputs, seen_outputs)
        for later in self.converted_later:
            self._process_converted_widgets(*later, seen_inputs)
        self.group.definition = {
            "input": {"required": self.required},
            "output": self.outputs,
            "output_name": self.output_names,
            "name": self.group.type_name,
            "display_name": self.group.name,
        }
        return self.group

    def _index_links(self) -> None:
        for link in self.data.get("links") or []:
            if not isinstance(link, list) or len(link) < 4 or link[0] is None:
                continue
            origin, origin_slot, target, target_slot = (js_key(v) for v in link[:4])
            self.group.links_from.setdefault(origin, {}).setdefault(origin_slot, []).append(link)
            self.group.links_to.setdefault(target, {})[target_slot] = link
        for external in self.data.get("external") or []:
            if isinstance(external, list) and len(external) >= 3:
                self.group.external_from.setdefault(js_key(external[0]), {})[js_key(external[1])] = external[2]

    def _config(self, node: dict) -> dict:
        config = self.data.get("config")
        entry = config.get(js_key(node["index"])) if isinstance(config, dict) else None
        return entry if isinstance(entry, dict) else {}

    # --- node definitions ---------------------------------------------------------------------------------

    def _node_def(self, node: dict) -> dict | None:
        """getNodeDef: the backend's class, or what a primitive node or a reroute stands for inside the group."""
        definition = self.object_info.get(node.get("type"))
        if isinstance(definition, dict):
            required, optional = frontend_inputs(definition)
            return {**definition, "input": {"required": required, "optional": optional}}
        index = js_key(node["index"])
        links_from = self.group.links_from.get(index)
        if node.get("type") == "PrimitiveNode":
            return self._primitive_def(node, links_from) if links_from else None
        if node.get("type") == "Reroute":
            return self._reroute_def(node, links_from)
        return None

    def _primitive_def(self, node: dict, links_from: dict) -> dict:
        first = links_from["0"][0]
        kind = first[5] if len(first) > 5 else None
        if kind == "COMBO":  # the values of the widget the primitive feeds
            source = ((node.get("outputs") or [{}])[0].get("widget") or {}).get("name")
            target_type = self.nodes[first[2]].get("type")
            target_inputs = (self.object_info.get(target_type) or {}).get("input") or {}
            spec = (target_inputs.get("required") or {}).get(source) or (target_inputs.get("optional") or {})[source]
            kind = spec[0]
        definition = {"input": {"required": {"value": [kind, {}]}}, "output": [kind], "output_name": []}
        self.primitive_defs[js_key(node["index"])] = definition
        return definition

    def _reroute_def(self, node: dict, links_from: dict | None) -> dict | None:
        index = js_key(node["index"])
        links_to = self.group.links_to.get(index)
        if links_to and links_from and not self.group.external_from.get(index, {}).get("0"):
            return None  # a reroute between inner nodes
        kind: Any = "*"
        if links_from:
            for link in links_from["0"]:
                slot = (self.nodes[link[2]].get("inputs") or [])[link[3]]
                if kind == "*":
                    kind = slot.get("type")
        elif links_to:
            link = links_to["0"]
            kind = (self.nodes[link[0]].get("outputs") or [])[link[1]].get("type")
        else:  # a reroute used as a pipe
            for link in self.data.get("links") or []:
                if isinstance(link, list) and len(link) > 5 and link[2] == node["index"]:
                    kind = link[5]
                    break
            if kind == "*" and self.group.external_from.get(index, {}).get("0"):
                kind = self.group.external_from[index]["0"]
        return {
            "input": {"required": {js_key(kind): [kind, {"forceInput": True}]}},
            "output": [kind],
            "output_name": [],
        }

    # --- inputs --------------------------------------------------------------------------------------------

    def _process_node(self, node: dict, seen_inputs: dict, seen_outputs: set) -> None:
        definition = self._node_def(node)
        if not definition:
            return
        declared = definition.get("input") or {}
        inputs = {**(declared.get("required") or {}), **(declared.get("optional") or {})}
        self._process_inputs(node, seen_inputs, inputs)
        if definition.get("output"):
            self._process_outputs(node, seen_outputs, definition)

    def _process_inputs(self, node: dict, seen_inputs: dict, inputs: dict) -> None:
        if not inputs:
            return
        index = js_key(node["index"])
        saved = [slot for slot in node.get("inputs") or [] if isinstance(slot, dict)]
        converted: dict[int, str] = {}
        sockets: list[str] = []
        widget_map: dict[str, str | None] = {}
        self.group.widget_map[index] = widget_map
        for input_name, spec in inputs.items():
            if not is_widget_input(spec):
                sockets.append(input_name)
                continue
            at = next(
                (
                    i
                    for i, slot in enumerate(saved)
                    if slot.get("name") == input_name and (slot.get("widget") or {}).get("name") == input_name
                ),
                -1,
            )
            if at > -1:  # a widget turned into an input when the group was made: it comes after the sockets
                converted[at] = input_name
                widget_map[input_name] = None
                continue
            name, config, _custom = self._input_config(node, input_name, seen_inputs, spec)
            self.required[name] = config
            widget_map[input_name] = name
            self.group.widget_sources[name] = (node["index"], input_name)
        links_to = self.group.links_to.get(index, {})
        input_map: dict[str, int] = {}
        self.group.input_map[index] = input_map
        for slot, input_name in enumerate(sockets):
            if links_to.get(str(slot)):
                self._primitive_connection(links_to[str(slot)], input_name, inputs)
                continue
            name, config, custom = self._input_config(node, input_name, seen_inputs, inputs[input_name])
            if custom.get("visible") is False:
                continue
            self.required[name] = config
            input_map[str(slot)] = self._next_input()
        self.converted_later.append((node, inputs, sockets, converted, links_to, input_map))

    def _process_converted_widgets(self, node, inputs, sockets, converted, links_to, input_map, seen_inputs) -> None:
        # The front end sorts the saved positions as text (so 10 comes before 2).
        names = [converted[at] for at in sorted(converted, key=str)]
        for offset, input_name in enumerate(names):
            slot = str(len(sockets) + offset)
            if links_to.get(slot):
                self._primitive_connection(links_to[slot], input_name, inputs)
                continue
            name, config, _custom = self._input_config(
                node, input_name, seen_inputs, inputs[input_name], {"defaultInput": True}
            )
            self.required[name] = config
            self.group.widget_sources[name] = (node["index"], input_name)
            self.group.widget_map.setdefault(js_key(node["index"]), {})[input_name] = name
            input_map[slot] = self._next_input()

    def _next_input(self) -> int:
        self.input_count += 1
        return self.input_count - 1

    def _input_config(
        self, node: dict, input_name: str, seen_inputs: dict, config: list, extra: dict | None = None
    ) -> tuple[str, list, dict]:
        """getInputConfig: the group's name for an inner input (prefixed by the node's title when the name is
        taken) and its spec."""
        custom = ((self._config(node).get("input") or {}).get(input_name)) or {}
        label = next((slot.get("label") for slot in node.get("inputs") or [] if slot.get("name") == input_name), None)
        name = custom.get("name") if custom.get("name") is not None else (label if label is not None else input_name)
        key = name
        prefix = ""
        if (node.get("type") == "PrimitiveNode" and node.get("title")) or name in seen_inputs:
            title = node.get("title") if node.get("title") is not None else node.get("type")
            prefix = f"{title} "
            key = name = f"{prefix}{input_name}"
            if name in seen_inputs:
                name = f"{prefix}{seen_inputs[name]} {input_name}"
        seen_inputs[key] = seen_inputs.get(key, 1) + 1
        if input_name in SEED_NAMES:
            extra = {**(extra or {}), "control_after_generate": f"{prefix}control_after_generate"}
        if config and config[0] == "IMAGEUPLOAD":
            options = config[1] if len(config) > 1 and isinstance(config[1], dict) else {}
            source = options.get("widget") if options.get("widget") is not None else "image"
            target = self.group.widget_map.get(js_key(node["index"]), {}).get(source)
            extra = {**(extra or {}), "widget": target if target is not None else "image"}
        if extra:
            options = config[1] if len(config) > 1 and isinstance(config[1], dict) else {}
            config = [config[0], {**options, **extra}]
        return name, config, custom

    def _primitive_connection(self, link: list, input_name: str, inputs: dict) -> None:
        """checkPrimitiveConnection: a primitive node inside the group takes the options of the widget it
        feeds, and a control widget named after it."""
        source = self.nodes[link[0]]
        if source.get("type") != "PrimitiveNode":
            return
        source_key = js_key(link[0])
        primitive = self.primitive_defs[source_key]["input"]["required"]["value"]
        target = inputs.get(input_name) or []
        options = target[1] if len(target) > 1 and isinstance(target[1], dict) else {}
        name = self.group.widget_map[source_key]["value"] or ""
        primitive[1:] = [{**copy.deepcopy(options), "control_after_generate": True, "control_prefix": name[:-6]}]
        self.group.primitive_targets.setdefault(source_key, []).append((link[2], input_name))

    # --- outputs -------------------------------------------------------------------------------------------

    def _process_outputs(self, node: dict, seen_outputs: set[str], definition: dict) -> None:
        index = js_key(node["index"])
        links_from = self.group.links_from.get(index) or {}
        custom_outputs = self._config(node).get("output") or {}
        output_names = definition.get("output_name") or []
        for output_id, kind in enumerate(definition["output"]):
            linked = links_from.get(str(output_id)) and not self.group.external_from.get(index, {}).get(str(output_id))
            custom = custom_outputs.get(str(output_id)) or {}
            visible = custom.get("visible") if custom.get("visible") is not None else not linked
            if not visible:
                continue
            self.group.output_sources[str(len(self.outputs))] = (node["index"], output_id)
            self.outputs.append(kind)
            label = custom.get("name")
            if not label:
                named = output_names[output_id] if output_id < len(output_names) else None
                label = named if named is not None else kind
                saved = next((o for o in node.get("outputs") or [] if o.get("name") == label), None)
                if saved and saved.get("label"):
                    label = saved["label"]
            name = label
            if js_key(name) in seen_outputs:
                title = node.get("title") if node.get("title") is not None else node.get("type")
                name = f"{title} {label}"
                if name in seen_outputs:
                    name = f"{title} {node['index']} {label}"
            seen_outputs.add(js_key(name))
            self.output_names.append(name)
