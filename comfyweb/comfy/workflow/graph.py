"""The graph as the front end holds it once loaded: nodes with their sockets and widgets, links by id, and
the subgraph definitions with their inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comfyweb.comfy.workflow.widgets import Widget

SUBGRAPH_INPUT_ID = -10  # the origin of links that enter a subgraph through one of its inputs
SUBGRAPH_OUTPUT_ID = -20
MODE_NEVER = 2  # "muted": left out of the prompt
MODE_BYPASS = 4  # its matching input passes through


@dataclass
class Slot:
    name: str
    type: Any
    link: int | None = None
    widget: str | None = None


@dataclass
class Link:
    id: int
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: Any = "*"
    saved_target_slot: int = -1  # as in the file, before the front end re-points it at the input holding it

    def __post_init__(self) -> None:
        self.saved_target_slot = self.target_slot


@dataclass
class Node:
    id: Any
    type: str
    graph: Graph
    mode: int
    title: str
    inputs: list[Slot]
    outputs: list[Slot]
    widgets: list[Widget]
    properties: dict
    data: dict
    comfy_class: str | None = None
    virtual: bool = False
    backend_class: bool = False  # built from the backend's definition of its class
    subgraph: Graph | None = None  # for subgraph instances
    output_links: list[list[int]] = field(default_factory=list)
    group: Any = None  # for old group nodes: their GroupInstance (group_node_instances.py)
    group_child: Any = None  # for the inner nodes of one: (GroupInstance, index)

    def widget(self, name: str | None) -> Widget | None:
        return next((w for w in self.widgets if w.name == name), None) if name else None


@dataclass
class SubgraphIO:
    name: str
    type: Any
    link_ids: list[int]


class Graph:
    """The root graph or one subgraph definition."""

    def __init__(self, data: dict, root: Graph | None = None, definition: dict | None = None) -> None:
        self.data = data
        self.root = root or self
        self.definition = definition
        self.nodes: list[Node] = []
        self.by_id: dict[str, Node] = {}
        self.links: dict[int, Link] = {}
        self.inputs: list[SubgraphIO] = []
        self.outputs: list[SubgraphIO] = []
        for raw in data.get("links") or []:
            link = parse_link(raw)
            if link is not None:
                self.links[link.id] = link
        if definition is not None:
            self.inputs = [_parse_io(slot) for slot in definition.get("inputs") or []]
            self.outputs = [_parse_io(slot) for slot in definition.get("outputs") or []]

    def node(self, node_id: Any) -> Node | None:
        return self.by_id.get(str(node_id))

    def add(self, node: Node) -> None:
        self.nodes.append(node)
        self.by_id[str(node.id)] = node


def parse_link(raw: object) -> Link | None:
    """A link as saved: `[id, origin, origin slot, target, target slot, type]` or the object form."""
    if isinstance(raw, list) and len(raw) >= 5:
        return Link(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5] if len(raw) > 5 else "*")
    if isinstance(raw, dict) and "id" in raw:
        return Link(
            raw["id"],
            raw.get("origin_id"),
            raw.get("origin_slot", 0),
            raw.get("target_id"),
            raw.get("target_slot", 0),
            raw.get("type", "*"),
        )
    return None


def _parse_io(slot: dict) -> SubgraphIO:
    return SubgraphIO(str(slot.get("name", "")), slot.get("type", "*"), list(slot.get("linkIds") or []))


def saved_link_id(saved: dict | None) -> int | None:
    link = (saved or {}).get("link")
    return link if isinstance(link, int) and not isinstance(link, bool) else None


def saved_slot(saved: dict) -> Slot:
    """A socket as the file saved it (for node classes the backend does not define)."""
    widget = saved.get("widget") if isinstance(saved.get("widget"), dict) else None
    return Slot(str(saved.get("name", "")), saved.get("type", "*"), saved_link_id(saved), (widget or {}).get("name"))
