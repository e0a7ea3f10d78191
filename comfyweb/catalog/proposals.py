"""Proposed visitor fields for a prompt: what an operator most likely wants to expose, each with a reason.

`propose_params(prompt, object_info, groups)` looks at every node of an API prompt with the backend's
`/object_info` and proposes `params` panels (docs/templates.md):

* a `LoadImage` / `LoadImageMask` picture → a required image field; the export's file name is dropped
  from the prompt (it only exists on the machine that saved the workflow);
* the positive prompt text (a multiline text that reaches a sampler's `positive` input) → a text field;
  other texts (the negative prompt…) are proposed unticked;
* every `seed` / `noise_seed` → hidden, set to -1 (a new random seed for each picture);
* `Empty…LatentImage` width and height → selects of common sizes;
* checkpoint, LoRA, sampler and scheduler names → selects whose options come from the backend
  (`options` names the node class), unticked;
* `steps`, `cfg`, `denoise` → numbers with the node's own bounds, unticked.

Fields take the node's title when the operator gave it one; ComfyUI groups become steps, and a group inside
another group (its box within the other's, or its nodes a part of the other's) a step inside that step. `build_params`
turns the accepted proposals into `params` (and the prompt they need); `unexposed_images` lists the
pictures a template would always take from the backend's disk.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from comfyweb.catalog.params import iter_panels, on_step_grid
from comfyweb.comfy.prompt import SEED_KEYS, is_link
from comfyweb.comfy.workflow import GroupInfo

IMAGE_LOADERS = {"LoadImage": "image", "LoadImageMask": "image"}
MODEL_INPUTS = {
    "ckpt_name": "checkpoint",
    "lora_name": "lora",
    "unet_name": "diffusion model",
    "sampler_name": "sampler",
    "scheduler": "scheduler",
}
TUNING_INPUTS = ("steps", "cfg", "denoise")
SIZES = (512, 576, 640, 704, 768, 832, 896, 960, 1024, 1152, 1216, 1280, 1344, 1536)
SAMPLER_INPUTS = {"positive", "negative", "conditioning"}
NEGATIVE_WORDS = re.compile(r"negative|neg\b|负面|反向|负向|反面", re.IGNORECASE)
POSITIVE_WORDS = re.compile(r"positive|pos\b|正面|正向", re.IGNORECASE)
KEEP = object()  # a proposal that leaves the prompt's value as it is

# How proposals are ordered inside a step: pictures first, then texts, sizes, the rest.
KIND_ORDER = {"image": 0, "text": 1, "size": 2, "model": 3, "tuning": 4, "seed": 5}


@dataclass
class Proposal:
    """One proposed panel, why, and whether it is ticked by default."""

    panel: dict
    reason: str
    kind: str
    recommended: bool = True
    group: str | None = None  # the ComfyUI group (→ step) the node sits in, the innermost when they nest
    prompt_value: Any = KEEP  # what the prompt must hold for this panel (an image field starts empty)
    steps: tuple[int, ...] = ()  # the groups around the node (indexes into `groups`), outermost first
    step_titles: tuple[str, ...] = ()  # their titles

    @property
    def target(self) -> tuple[str, str]:
        return str(self.panel["id"]), str(self.panel["key"])

    def as_dict(self) -> dict:
        """A JSON-friendly form (for an editor)."""
        data = {
            "panel": self.panel,
            "reason": self.reason,
            "kind": self.kind,
            "recommended": self.recommended,
            "group": self.group,
        }
        if self.prompt_value is not KEEP:
            data["prompt_value"] = self.prompt_value
        return data


@dataclass
class _Context:
    prompt: dict
    object_info: dict
    steps_of: dict[str, tuple[int, ...]] = field(default_factory=dict)
    titles: list[str] = field(default_factory=list)
    consumers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _contains(outer: GroupInfo, inner: GroupInfo) -> bool:
    """Whether `inner` sits inside `outer`: its nodes are a part of outer's, and it is smaller (fewer nodes,
    or its box strictly within outer's). Subgraph groups lie in their own coordinates: their nodes decide."""
    nodes, outer_nodes = set(map(str, inner.node_ids)), set(map(str, outer.node_ids))
    if not nodes or not nodes <= outer_nodes:
        return False
    if nodes < outer_nodes:
        return True
    (x, y, w, h), (ox, oy, ow, oh) = inner.bounding, outer.bounding
    inside = ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh
    return inside and (x, y, w, h) != (ox, oy, ow, oh)


def _area(group: GroupInfo) -> float:
    return group.bounding[2] * group.bounding[3]


def group_paths(groups: list[GroupInfo]) -> list[tuple[int, ...]]:
    """For each group, the groups it nests in and itself (indexes, outermost first)."""
    parents: list[int | None] = []
    for index, group in enumerate(groups):
        around = [other for other in range(len(groups)) if other != index and _contains(groups[other], group)]
        # The nearest is the smallest of those around it.
        around.sort(key=lambda other: (len(groups[other].node_ids), _area(groups[other])))
        parents.append(around[0] if around else None)
    paths = []
    for index in range(len(groups)):
        path, current, seen = [], index, set()
        while current is not None and current not in seen:
            seen.add(current)
            path.append(current)
            current = parents[current]
        paths.append(tuple(reversed(path)))
    return paths


def propose_params(prompt: dict, object_info: dict, groups: list[GroupInfo] | None = None) -> list[Proposal]:
    """Proposed panels for `prompt`, in the order a visitor would meet them (steps in group order, a nested
    group's fields after its outer group's own)."""
    groups = groups or []
    context = _Context(prompt, object_info or {}, titles=[g.title for g in groups])
    for index, path in enumerate(group_paths(groups)):
        for node_id in groups[index].node_ids:
            known = context.steps_of.get(str(node_id))
            if known is None or len(path) > len(known):  # the innermost group the node is in
                context.steps_of[str(node_id)] = path
    for node_id, node in prompt.items():
        for key, value in _inputs(node).items():
            if is_link(value):
                context.consumers.setdefault(str(value[0]), []).append((str(node_id), key))
    proposals: list[Proposal] = []
    for node_id in sorted(prompt, key=_node_order):
        node = prompt[node_id]
        if not isinstance(node, dict):
            continue
        proposals.extend(_for_node(context, str(node_id), node))
    _number_titles(proposals)
    proposals.sort(key=lambda p: (p.steps or (-1,), KIND_ORDER.get(p.kind, 9), _node_order(p.panel["id"])))
    return proposals


def _node_order(node_id: object) -> tuple:
    parts = str(node_id).split(":")
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def _inputs(node: object) -> dict:
    inputs = node.get("inputs") if isinstance(node, dict) else None
    return inputs if isinstance(inputs, dict) else {}


def _spec(object_info: dict, class_type: str, key: str) -> tuple[str, dict, list | None]:
    definition = object_info.get(class_type) or {}
    declared = definition.get("input") or {}
    spec = {**(declared.get("optional") or {}), **(declared.get("required") or {})}.get(key)
    if not isinstance(spec, (list, tuple)) or not spec:
        return "", {}, None
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(spec[0], list):
        return "COMBO", options, list(spec[0])
    if spec[0] == "COMBO":
        return "COMBO", options, list(options.get("options") or [])
    return str(spec[0]), options, None


def _custom_title(node: dict, object_info: dict) -> str | None:
    """The node's own title when the operator renamed it in ComfyUI (not the class's display name)."""
    title = ((node.get("_meta") or {}).get("title") or "").strip()
    class_type = node.get("class_type", "")
    definition = object_info.get(class_type) or {}
    defaults = {class_type, definition.get("display_name") or "", definition.get("name") or ""}
    return title if title and title not in defaults else None


def _for_node(context: _Context, node_id: str, node: dict) -> list[Proposal]:
    class_type = str(node.get("class_type") or "")
    inputs = _inputs(node)
    custom = _custom_title(node, context.object_info)
    title = ((node.get("_meta") or {}).get("title") or class_type).strip()
    where = f"{node_id} “{title}” ({class_type})"
    steps = context.steps_of.get(node_id, ())
    group = context.titles[steps[-1]] if steps else None
    found: list[Proposal] = []

    def add(panel: dict, reason: str, kind: str, recommended: bool = True, prompt_value: Any = KEEP) -> None:
        panel = {"id": node_id, **panel}
        titles = tuple(context.titles[index] for index in steps)
        found.append(Proposal(panel, reason, kind, recommended, group, prompt_value, steps, titles))

    image_key = IMAGE_LOADERS.get(class_type)
    if image_key and image_key in inputs and not is_link(inputs[image_key]):
        current = inputs[image_key]
        add(
            {"type": "image", "key": image_key, "title": custom or _("Photo")},
            _(
                "%(where)s loads a picture: visitors upload their own. The export's file name %(file)s is not "
                "kept: it only exists on the machine that saved the workflow, so the field is required."
            )
            % {"where": where, "file": f"“{current}”" if current else _("(none)")},
            "image",
            prompt_value="",
        )
    for key, value in inputs.items():
        if is_link(value) or (image_key and key == image_key):
            continue
        kind, options, _values = _spec(context.object_info, class_type, key)
        if key in SEED_KEYS and kind == "INT" and _is_number(value):
            add(
                {"type": "number", "key": key, "title": _("Seed"), "hidden": True},
                _("%(where)s: %(key)s is hidden and set to -1, so every picture gets a new random seed.")
                % {"where": where, "key": key},
                "seed",
                prompt_value=-1,
            )
        elif kind == "STRING" and options.get("multiline") and isinstance(value, str):
            polarity = _polarity(context, node_id, title)
            default_title = {"positive": _("Prompt"), "negative": _("Negative prompt")}.get(polarity, _("Text"))
            add(
                {"type": "string", "key": key, "title": custom or default_title},
                (
                    _("%(where)s: the text that describes the picture; visitors write their own.")
                    if polarity == "positive"
                    else _("%(where)s: the negative prompt (what to avoid); usually kept as it is.")
                    if polarity == "negative"
                    else _("%(where)s: a text of the workflow; visitors could write their own.")
                )
                % {"where": where},
                "text",
                recommended=polarity == "positive",
            )
        elif key in ("width", "height") and class_type.startswith("Empty") and kind == "INT" and _is_number(value):
            add(_size_panel(key, value, options, custom), _size_reason(where, key), "size")
        elif key in MODEL_INPUTS and kind == "COMBO" and isinstance(value, (str, int, float)):
            add(
                {"type": "select", "key": key, "title": _titled(custom, key), "options": class_type},
                _(
                    "%(where)s: visitors could choose the %(what)s; the choices are what the GPU backend "
                    "has installed (its /object_info), read when the form is shown."
                )
                % {"where": where, "what": MODEL_INPUTS[key]},
                "model",
                recommended=False,
            )
        elif key in TUNING_INPUTS and kind in ("INT", "FLOAT") and _is_number(value):
            add(
                _number_panel(key, value, kind, options, custom),
                _("%(where)s: visitors could tune %(key)s within the node's own bounds.")
                % {"where": where, "key": key},
                "tuning",
                recommended=False,
            )
    return found


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _label(key: str) -> str:
    return {
        "ckpt_name": _("Model"),
        "lora_name": _("Style (LoRA)"),
        "unet_name": _("Model"),
        "sampler_name": _("Sampler"),
        "scheduler": _("Scheduler"),
        "steps": _("Steps"),
        "cfg": _("Prompt strength (CFG)"),
        "denoise": _("Denoise"),
        "width": _("Width"),
        "height": _("Height"),
    }.get(key, key)


def _titled(custom: str | None, key: str) -> str:
    """A field of a renamed node that has several fields: "<node title>: <what>"."""
    return f"{custom}: {_label(key)}" if custom else _label(key)


def _size_panel(key: str, value: int, options: dict, custom: str | None) -> dict:
    lo, hi, step = options.get("min", 16), options.get("max", 16384), options.get("step", 8) or 8
    sizes = sorted({size for size in SIZES if lo <= size <= hi and size % step == 0} | {value})
    return {
        "type": "select",
        "key": key,
        "title": _titled(custom, key),
        "options": sizes,
        "labels": [f"{s} px" for s in sizes],
    }


def _size_reason(where: str, key: str) -> str:
    return _("%(where)s: the picture's %(key)s, offered as a choice of common sizes (multiples of 64 px).") % {
        "where": where,
        "key": key,
    }


def _number_panel(key: str, value: float, kind: str, options: dict, custom: str | None) -> dict:
    panel: dict = {"type": "number", "key": key, "title": _titled(custom, key)}
    for bound in ("min", "max"):
        if _is_number(options.get(bound)):
            panel[bound] = options[bound]
    step = options.get("step") if _is_number(options.get("step")) else (1 if kind == "INT" else None)
    if step and on_step_grid(value, step, panel.get("min", 0)):
        panel["step"] = step
    if "min" in panel and value < panel["min"]:
        del panel["min"]
    if "max" in panel and value > panel["max"]:
        del panel["max"]
    return panel


def _polarity(context: _Context, node_id: str, title: str) -> str:
    """ "positive", "negative" or "" for a text node: by its title, else by where its output ends up."""
    if NEGATIVE_WORDS.search(title):
        return "negative"
    if POSITIVE_WORDS.search(title):
        return "positive"
    seen: set[str] = set()
    frontier = [node_id]
    reached: set[str] = set()
    while frontier and len(seen) < 500:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        for consumer, key in context.consumers.get(current, []):
            if key in SAMPLER_INPUTS:
                reached.add("negative" if key == "negative" else "positive")
                continue
            frontier.append(consumer)
    if "positive" in reached:
        return "positive"
    return "negative" if "negative" in reached else ""


def _number_titles(proposals: list[Proposal]) -> None:
    """Two fields may not read alike: "Photo" twice becomes "Photo 1", "Photo 2"."""
    by_title: dict[tuple[str, str], list[Proposal]] = {}
    for proposal in proposals:
        if proposal.panel.get("hidden"):
            continue
        by_title.setdefault((proposal.kind, proposal.panel.get("title", "")), []).append(proposal)
    for alike in by_title.values():
        if len(alike) > 1:
            for number, proposal in enumerate(alike, start=1):
                proposal.panel["title"] = f"{proposal.panel['title']} {number}"


def build_params(
    prompt: dict, proposals: list[Proposal], accepted: Iterable[int] | None = None
) -> tuple[dict, list[dict]]:
    """(the prompt the accepted proposals need, their `params`), groups made steps in proposal order, nested
    groups steps inside their step.

    `accepted` are indexes into `proposals`; None takes the recommended ones. The prompt is a copy:
    image inputs of accepted image fields are emptied, accepted seeds set to -1.
    """
    chosen = (
        [p for p in proposals if p.recommended]
        if accepted is None
        else [proposals[i] for i in sorted(set(accepted)) if 0 <= i < len(proposals)]
    )
    result = copy.deepcopy(prompt)
    params: list[dict] = []
    steps: dict[tuple, dict] = {}  # by the path of group indexes (or, without one, of titles)

    def step(path: tuple, titles: tuple[str, ...]) -> list:
        if not path:
            return params
        if path not in steps:
            steps[path] = {"type": "group", "title": titles[-1], "children": []}
            step(path[:-1], titles[:-1]).append(steps[path])
        return steps[path]["children"]

    for proposal in chosen:
        node_id, key = proposal.target
        if proposal.prompt_value is not KEEP and node_id in result:
            result[node_id].setdefault("inputs", {})[key] = proposal.prompt_value
        panel = copy.deepcopy(proposal.panel)
        if proposal.group and not panel.get("hidden"):
            titles = tuple(proposal.step_titles) or (proposal.group,)
            path = proposal.steps or (proposal.group,)
            step(path, titles).append(panel)
        else:
            params.append(panel)
    return result, params


def unexposed_images(prompt: dict, params: list) -> list[str]:
    """Picture inputs a template always takes from the backend's disk (not offered to visitors).

    Each names the node and the file; an empty value or a link is not a fixed picture.
    """
    exposed = {(str(p.get("id")), p.get("key")) for p in iter_panels(params or []) if p.get("type") == "image"}
    found = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        key = IMAGE_LOADERS.get(node.get("class_type"))
        value = _inputs(node).get(key) if key else None
        if key is None or (str(node_id), key) in exposed or not _is_backend_file(value):
            continue
        title = (node.get("_meta") or {}).get("title") or node["class_type"]
        found.append(
            _(
                "node %(id)s “%(title)s” (%(cls)s) always loads “%(file)s” from the GPU backend's input folder: "
                "visitors cannot give their own picture. Expose it as an image field, or make sure every "
                "backend has this file."
            )
            % {"id": node_id, "title": title, "cls": node["class_type"], "file": value}
        )
    return found


def _is_backend_file(value: object) -> bool:
    """A file name in the backend's input folder (not empty, not a URL, data URL or path of this site)."""
    if not isinstance(value, str) or not value.strip():
        return False
    return not value.startswith(("http://", "https://", "data:", "/"))
