"""ComfyUI's groups (titled boxes on the canvas) with the prompt nodes inside them: an import proposes one
step of the visitor's form per group."""

from __future__ import annotations

from dataclasses import dataclass

from comfyweb.comfy.workflow.graph import Graph, Node

MAX_SUBGRAPH_DEPTH = 16


@dataclass
class GroupInfo:
    """A ComfyUI group (a titled box on the canvas) and the prompt nodes inside it."""

    title: str
    node_ids: list[str]
    bounding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def find_groups(workflow: dict, root: Graph, prompt: dict) -> list[GroupInfo]:
    """ComfyUI's groups with the prompt nodes whose position lies inside them: the root graph's groups, then
    those inside each subgraph instance (their nodes' ids carry the instance's prefix)."""
    found: list[GroupInfo] = []
    _collect_groups(workflow.get("groups"), root, "", prompt, found, 0)
    return found


def _collect_groups(groups: object, graph: Graph, prefix: str, prompt: dict, found: list, depth: int) -> None:
    for group in groups if isinstance(groups, list) else []:
        if not isinstance(group, dict):
            continue
        try:
            x, y, w, h = (float(v) for v in (group.get("bounding") or [])[:4])
        except (TypeError, ValueError):
            continue
        inside = []
        for node in graph.nodes:
            pos = _position(node.data.get("pos"))
            if pos is not None and x <= pos[0] <= x + w and y <= pos[1] <= y + h:
                inside.extend(_prompt_ids(node, prompt, prefix))
        found.append(GroupInfo(str(group.get("title") or ""), inside, (x, y, w, h)))
    if depth > MAX_SUBGRAPH_DEPTH:
        return
    for node in graph.nodes:
        if node.subgraph is not None and node.subgraph.definition is not None:
            inner_prefix = f"{prefix}{node.id}:"
            groups = node.subgraph.definition.get("groups")
            _collect_groups(groups, node.subgraph, inner_prefix, prompt, found, depth + 1)


def _position(pos: object) -> tuple[float, float] | None:
    if isinstance(pos, dict):
        pos = [pos.get("0", 0), pos.get("1", 0)]
    if not isinstance(pos, (list, tuple)) or len(pos) < 2:
        return None
    try:
        return float(pos[0]), float(pos[1])
    except (TypeError, ValueError):
        return None


def _prompt_ids(node: Node, prompt: dict, prefix: str) -> list[str]:
    """The prompt ids a node stands for (all inner nodes for a subgraph instance or an old group node)."""
    own = f"{prefix}{node.id}"
    if node.subgraph is None and node.group is None:
        return [own] if own in prompt else []
    return [node_id for node_id in prompt if node_id.startswith(own + ":")]
