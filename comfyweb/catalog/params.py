"""The `params` panels of a template: walking them and checking them against the prompt.

A panel points at `prompt[id].inputs[key]`; DESIGN.md lists the rules. Problems name the
panel and the reason so an operator can fix the template without reading code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from comfyweb.comfy.prompt import is_link

PANEL_TYPES = ("image", "select", "number", "string", "group")


@dataclass(frozen=True)
class TemplateProblem:
    panel: str
    reason: str

    def __str__(self) -> str:
        return f"{self.panel}: {self.reason}" if self.panel else self.reason


def iter_panels(params: list) -> Iterator[dict]:
    """Every non-group panel, groups' children included, in display order."""
    for panel in params or []:
        if not isinstance(panel, dict):
            continue
        if panel.get("type") == "group":
            yield from iter_panels(panel.get("children") or [])
        else:
            yield panel


def field_name(panel: dict) -> str:
    """The form field / REST value key of a panel: "<node id>.<input key>"."""
    return f"{panel.get('id')}.{panel.get('key')}"


def panel_label(panel: dict, index: int) -> str:
    title = panel.get("title") or ""
    return f"#{index + 1} {title} ({panel.get('type')} {field_name(panel)})".strip()


def validate_prompt_graph(prompt: object) -> list[TemplateProblem]:
    """An API-format prompt: a dict of nodes with class_type and inputs; every link points at a node."""
    if not isinstance(prompt, dict) or not prompt:
        return [TemplateProblem("prompt", _("The prompt must be a non-empty JSON object in ComfyUI's API format."))]
    problems = []
    for node_id, node in prompt.items():
        where = _("node %(id)s") % {"id": node_id}
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            problems.append(TemplateProblem(where, _("is not a node: it needs a class_type (API format export).")))
            continue
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            problems.append(TemplateProblem(where, _("its inputs must be a JSON object.")))
            continue
        for key, value in inputs.items():
            if is_link(value) and value[0] not in prompt:
                problems.append(
                    TemplateProblem(
                        where,
                        _("input %(key)s links to node %(target)s, which is not in the prompt.")
                        % {"key": key, "target": value[0]},
                    )
                )
    return problems


def validate_template(prompt: dict, params: list) -> list[TemplateProblem]:
    """All problems of a template; an empty list means it can be saved."""
    problems = validate_prompt_graph(prompt)
    if not isinstance(params, list):
        return [*problems, TemplateProblem("params", _("params must be a JSON list of panels."))]
    graph_ok = not problems
    seen: set[str] = set()
    for index, panel in enumerate(_all_panels(params)):
        if not isinstance(panel, dict):
            problems.append(TemplateProblem(f"#{index + 1}", _("a panel must be a JSON object.")))
            continue
        where = panel_label(panel, index)
        kind = panel.get("type")
        if kind not in PANEL_TYPES:
            problems.append(TemplateProblem(where, _("unknown type %(type)r.") % {"type": kind}))
            continue
        if kind == "group":
            if not isinstance(panel.get("children"), list) or not panel["children"]:
                problems.append(TemplateProblem(where, _("a group needs a non-empty children list.")))
            continue
        problems.extend(_check_target(prompt if graph_ok else {}, panel, where, seen, graph_ok))
        problems.extend(_check_type(prompt if graph_ok else {}, panel, where))
    return problems


def _all_panels(params: list) -> Iterator[object]:
    for panel in params:
        yield panel
        if isinstance(panel, dict) and panel.get("type") == "group":
            yield from _all_panels(panel.get("children") or [])


def _check_target(prompt: dict, panel: dict, where: str, seen: set[str], graph_ok: bool) -> list[TemplateProblem]:
    node_id, key = panel.get("id"), panel.get("key")
    if not isinstance(node_id, str) or not node_id or not isinstance(key, str) or not key:
        return [TemplateProblem(where, _("id and key must be non-empty strings."))]
    name = field_name(panel)
    if name in seen:
        return [TemplateProblem(where, _("another panel already edits %(name)s.") % {"name": name})]
    seen.add(name)
    if not graph_ok:
        return []
    if node_id not in prompt:
        return [TemplateProblem(where, _("node %(id)s is not in the prompt.") % {"id": node_id})]
    inputs = prompt[node_id].get("inputs", {})
    if key not in inputs:
        return [
            TemplateProblem(
                where,
                _("node %(id)s (%(cls)s) has no input %(key)s.")
                % {"id": node_id, "cls": prompt[node_id]["class_type"], "key": key},
            )
        ]
    if is_link(inputs[key]):
        return [TemplateProblem(where, _("input %(key)s is a link to another node, not a value.") % {"key": key})]
    return []


def _check_type(prompt: dict, panel: dict, where: str) -> list[TemplateProblem]:
    kind = panel["type"]
    options = panel.get("options")
    current = prompt.get(panel.get("id"), {}).get("inputs", {}).get(panel.get("key")) if prompt else None
    problems = []
    if options is not None and not isinstance(options, (list, str)):
        problems.append(TemplateProblem(where, _("options must be a list, or a node class name as a source.")))
    if kind == "select":
        if options is None or (isinstance(options, list) and not options) or options == "":
            problems.append(TemplateProblem(where, _("a select needs a non-empty options list or source.")))
    elif kind == "number":
        bounds = {name: panel.get(name) for name in ("min", "max", "step")}
        for name, value in bounds.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                problems.append(TemplateProblem(where, _("%(name)s must be a number.") % {"name": name}))
        lo, hi, step = bounds["min"], bounds["max"], bounds["step"]
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
            problems.append(TemplateProblem(where, _("min is greater than max.")))
        if isinstance(step, (int, float)) and step <= 0:
            problems.append(TemplateProblem(where, _("step must be positive.")))
        if prompt and (isinstance(current, bool) or not isinstance(current, (int, float))):
            problems.append(TemplateProblem(where, _("the prompt's value is not a number.")))
    elif kind == "string":
        if prompt and not isinstance(current, str):
            problems.append(TemplateProblem(where, _("the prompt's value is not text.")))
    elif kind == "image":
        if isinstance(options, list) and not all(isinstance(o, str) and o for o in options):
            problems.append(TemplateProblem(where, _("image options must be image URLs.")))
        if prompt and not isinstance(current, str):
            problems.append(TemplateProblem(where, _("the prompt's value is not an image name or URL.")))
    return problems
