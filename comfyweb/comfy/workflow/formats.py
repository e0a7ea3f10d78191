"""Telling ComfyUI's two saved formats apart."""

from __future__ import annotations


def is_ui_workflow(data: object) -> bool:
    """ComfyUI's "Save" format: a graph with a `nodes` list (and `links`)."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def is_api_prompt(data: object) -> bool:
    """ComfyUI's "Save (API)" format: node id → {"class_type", "inputs"}."""
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(node, dict) and isinstance(node.get("class_type"), str) for node in data.values())
    )
