"""The `params` panels of a template: walking them and checking them against the prompt.

A panel points at `prompt[id].inputs[key]`; DESIGN.md lists the rules. Problems name the
panel and the reason so an operator can fix the template without reading code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from comfyweb.catalog.schema import json_path, panel_shape_problems
from comfyweb.comfy.prompt import SEED_KEYS, is_link

PANEL_TYPES = ("image", "select", "number", "string", "group")


@dataclass(frozen=True)
class TemplateProblem:
    """One reason a template cannot be saved; `panel` says where, `field` which JSON it is in."""

    panel: str
    reason: str
    field: str = "params"

    def __str__(self) -> str:
        return f"{self.panel}: {self.reason}" if self.panel else self.reason


def is_node_id(value: object) -> bool:
    """Panel ids name prompt nodes; fc-comfyui files use strings, hand-written ones sometimes ints."""
    return (isinstance(value, str) and value != "") or (isinstance(value, int) and not isinstance(value, bool))


def iter_panels(params: list) -> Iterator[dict]:
    """Every non-group panel, groups' children included, in display order."""
    for panel in params if isinstance(params, list) else []:
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
    """How problems name a panel: its position, title, type and target, e.g. `#3 角色 (image 11.image)`."""
    title = panel.get("title") or ""
    target = "" if panel.get("type") == "group" else f" {field_name(panel)}"
    return f"#{index + 1} {title} ({panel.get('type')}{target})".replace("  ", " ")


def validate_prompt_graph(prompt: object) -> list[TemplateProblem]:
    """An API-format prompt: a dict of nodes with class_type and inputs; every link points at a node."""
    if isinstance(prompt, dict) and isinstance(prompt.get("nodes"), list) and "links" in prompt:
        return [
            TemplateProblem(
                "prompt",
                _("This is ComfyUI's UI workflow format; export it with “Save (API)” (API format) instead."),
                "prompt",
            )
        ]
    if not isinstance(prompt, dict) or not prompt:
        return [
            TemplateProblem(
                "prompt", _("The prompt must be a non-empty JSON object in ComfyUI's API format."), "prompt"
            )
        ]
    problems = []
    for node_id, node in prompt.items():
        where = _("node %(id)s") % {"id": node_id}
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str) or not node["class_type"]:
            problems.append(
                TemplateProblem(where, _("is not a node: it needs a class_type (API format export)."), "prompt")
            )
            continue
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            problems.append(TemplateProblem(where, _("its inputs must be a JSON object."), "prompt"))
            continue
        for key, value in inputs.items():
            if is_link(value) and str(value[0]) not in prompt:
                problems.append(
                    TemplateProblem(
                        where,
                        _("input %(key)s links to node %(target)s, which is not in the prompt.")
                        % {"key": key, "target": value[0]},
                        "prompt",
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
            problems.append(
                TemplateProblem(
                    where,
                    _("unknown type %(type)r (use image, select, number, string or group).") % {"type": kind},
                )
            )
            continue
        if kind == "group":
            if not isinstance(panel.get("children"), list) or not panel["children"]:
                problems.append(TemplateProblem(where, _("a group needs a non-empty children list.")))
            continue
        target_problems = _check_target(prompt if graph_ok else {}, panel, where, seen, graph_ok)
        problems.extend(target_problems)
        problems.extend(_check_type(prompt if graph_ok and not target_problems else {}, panel, where))
    problems.extend(_shape_problems(params))
    return problems


def _shape_problems(params: list) -> list[TemplateProblem]:
    """What the JSON Schema (catalog/template.schema.json) finds beyond the rules above: unknown keys, texts
    that are not text…, each named by its panel and its path inside the panel."""
    flat = list(_all_panels(params))
    problems = []
    for path, message in panel_shape_problems(params):
        panel, rest = params[path[0]], path[1:]
        while len(rest) >= 2 and rest[0] == "children" and isinstance(rest[1], int):
            panel, rest = panel["children"][rest[1]], rest[2:]
        position = next((i for i, p in enumerate(flat) if p is panel), 0)
        where = panel_label(panel, position)
        problems.append(TemplateProblem(where, f"{json_path(rest)}: {message}" if rest else message))
    return problems


def _all_panels(params: list) -> Iterator[object]:
    for panel in params:
        yield panel
        if isinstance(panel, dict) and panel.get("type") == "group" and isinstance(panel.get("children"), list):
            yield from _all_panels(panel["children"])


def _check_target(prompt: dict, panel: dict, where: str, seen: set[str], graph_ok: bool) -> list[TemplateProblem]:
    node_id, key = panel.get("id"), panel.get("key")
    if not is_node_id(node_id) or not isinstance(key, str) or not key:
        return [TemplateProblem(where, _("id (a node id of the prompt) and key (an input name) are required."))]
    name = field_name(panel)
    if name in seen:
        return [TemplateProblem(where, _("another panel already edits %(name)s.") % {"name": name})]
    seen.add(name)
    if not graph_ok:
        return []
    node_id = str(node_id)
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


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_type(prompt: dict, panel: dict, where: str) -> list[TemplateProblem]:
    kind = panel["type"]
    options = panel.get("options")
    node = prompt.get(str(panel.get("id")), {}) if prompt else {}
    key = panel.get("key")
    inputs = node.get("inputs") if isinstance(node, dict) else None
    current = inputs.get(key) if isinstance(inputs, dict) and isinstance(key, str) else None
    problems = []
    if options is not None and not isinstance(options, (list, str)):
        problems.append(TemplateProblem(where, _("options must be a list, or a node class name as a source.")))
    if kind == "select":
        if options is None or (isinstance(options, list) and not options) or options == "":
            problems.append(TemplateProblem(where, _("a select needs a non-empty options list or source.")))
        elif isinstance(options, list) and not all(isinstance(o, (str, int, float)) for o in options):
            problems.append(TemplateProblem(where, _("select options must be texts or numbers.")))
        elif isinstance(options, list) and len({str(o) for o in options}) != len(options):
            problems.append(TemplateProblem(where, _("select options must not repeat.")))
        elif isinstance(options, list) and prompt and current is not None:
            problems.extend(_check_options_match(options, current, where))
    elif kind == "number":
        problems.extend(_check_number(panel, current, where, bool(prompt)))
    elif kind == "string":
        if prompt and not isinstance(current, str):
            problems.append(TemplateProblem(where, _("the prompt's value is not text.")))
    elif kind == "image":
        if isinstance(options, str):
            problems.append(TemplateProblem(where, _("image options must be a list of image URLs.")))
        elif isinstance(options, list) and not all(isinstance(o, str) and o for o in options):
            problems.append(TemplateProblem(where, _("image options must be image URLs.")))
        if prompt and not isinstance(current, str):
            problems.append(TemplateProblem(where, _("the prompt's value is not an image name or URL.")))
        if "upload" in panel and not isinstance(panel["upload"], bool):
            problems.append(TemplateProblem(where, _("upload must be true or false.")))
        elif panel.get("upload") is False and not (isinstance(options, list) and options):
            problems.append(
                TemplateProblem(where, _("without uploads (upload: false), visitors need pictures to pick (options)."))
            )
    labels = panel.get("labels")
    labels_ok = (
        isinstance(options, list)
        and isinstance(labels, list)
        and len(labels) == len(options)
        and all(isinstance(label, str) for label in labels)
    )
    if kind in ("select", "image") and labels is not None and not labels_ok:
        problems.append(TemplateProblem(where, _("labels must be a list of texts, one per option.")))
    return problems


def _check_options_match(options: list, current: object, where: str) -> list[TemplateProblem]:
    """A select writes its options into the prompt: they must have the prompt value's type (a step count
    stays a number), and the prompt's own value must be one of them (it is the form's default)."""
    if _is_number(current):
        if not all(_is_number(option) for option in options):
            return [TemplateProblem(where, _("the prompt's value is a number: the options must be numbers too."))]
    elif isinstance(current, str):
        if not all(isinstance(option, str) for option in options):
            return [TemplateProblem(where, _("the prompt's value is text: the options must be texts too."))]
    if current not in options:
        return [
            TemplateProblem(
                where,
                _("the prompt's value %(value)s is not one of the options.")
                % {"value": json.dumps(current, ensure_ascii=False)},
            )
        ]
    return []


def _check_number(panel: dict, current: object, where: str, have_prompt: bool) -> list[TemplateProblem]:
    problems = []
    bounds = {name: panel.get(name) for name in ("min", "max", "step")}
    for name, value in bounds.items():
        if value is not None and not _is_number(value):
            problems.append(TemplateProblem(where, _("%(name)s must be a number.") % {"name": name}))
    lo, hi, step = (value if _is_number(value) else None for value in bounds.values())
    if lo is not None and hi is not None and lo > hi:
        problems.append(TemplateProblem(where, _("min is greater than max.")))
    if step is not None and step <= 0:
        problems.append(TemplateProblem(where, _("step must be positive.")))
    if not have_prompt:
        return problems
    if not _is_number(current):
        problems.append(TemplateProblem(where, _("the prompt's value is not a number.")))
    elif current == -1 and panel.get("key") in SEED_KEYS and lo is not None and current < lo:
        problems.append(
            TemplateProblem(
                where,
                _(
                    "the seed is -1, which means a new random seed for each picture, but the minimum is "
                    "%(min)s, so the form could never keep it. Set the minimum to -1 (or leave it empty) to keep "
                    "random seeds, or give the seed a default of %(min)s or more."
                )
                % {"min": lo},
            )
        )
    elif lo is not None and current < lo:
        problems.append(
            TemplateProblem(
                where,
                _(
                    "the prompt's value %(value)s is below the minimum %(min)s, so the form could never keep it. "
                    "Lower the minimum or raise the default."
                )
                % {"value": current, "min": lo},
            )
        )
    elif hi is not None and current > hi:
        problems.append(
            TemplateProblem(
                where,
                _(
                    "the prompt's value %(value)s is above the maximum %(max)s, so the form could never keep it. "
                    "Raise the maximum or lower the default."
                )
                % {"value": current, "max": hi},
            )
        )
    elif step is not None and step > 0 and not on_step_grid(current, step, lo or 0):
        problems.append(
            TemplateProblem(where, _("the prompt's value %(value)s is not on the step grid.") % {"value": current})
        )
    return problems


def on_step_grid(value: float, step: float, base: float) -> bool:
    """Whether `value` is `base` plus a whole number of `step`s (within float rounding)."""
    steps = (value - base) / step
    return math.isclose(steps, round(steps), abs_tol=1e-6)


def title_clashes(params: list) -> list[str]:
    """Visible fields sharing one title (visitors could not tell them apart), one line per title."""
    by_title: dict[str, list[dict]] = {}
    for panel in iter_panels(params):
        title = " ".join(str(panel.get("title") or "").split())
        if title and not panel.get("hidden"):
            by_title.setdefault(title.casefold(), []).append(panel)
    return [
        _(
            "%(n)d fields are titled “%(title)s” (%(fields)s): visitors could not tell them apart. "
            "Give each its own title."
        )
        % {"n": len(panels), "title": panels[0].get("title"), "fields": ", ".join(field_name(p) for p in panels)}
        for panels in by_title.values()
        if len(panels) > 1
    ]
