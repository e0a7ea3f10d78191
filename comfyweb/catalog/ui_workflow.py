"""ComfyUI's "Save" format (a UI workflow: nodes, links, groups, subgraphs) → the API prompt it queues.

ComfyUI's page turns the graph on its canvas into the API prompt with `app.graphToPrompt()`; a template
needs exactly that prompt. This module does the same in Python, from the workflow JSON and the target
backend's `/object_info` (which says, per node class, which inputs are widgets and in which order their
values sit in `widgets_values`). It follows the front end ComfyUI 0.3.75 ships (comfyui-frontend-package
1.32), rule by rule, and `make test-comfyui` compares the two on real workflows in a browser:

* every node class's widgets are laid out as the front end lays them out: inputs in `input_order`,
  widget inputs after socket inputs, a `control_after_generate` widget after each seed-like number
  (its value sits in `widgets_values` but never in the prompt), an `upload` button after image uploads;
* `widgets_values` fill the widgets in order; values saved by front ends older than 1.16 for inputs that
  are now sockets (`forceInput`) are dropped first, as the front end does;
* muted nodes (mode 2) are left out and links to them dropped; bypassed nodes (mode 4) pass their
  matching input through; `Reroute` nodes are followed; `PrimitiveNode` values are written into the
  widgets they feed (rounded as the target widget rounds); notes are ignored;
* subgraphs are flattened: inner nodes get ids "<subgraph node id>:<inner id>", promoted widgets give
  each instance its own values;
* text widgets marked `dynamicPrompts` lose their comments and resolve `{a|b}` choices (the first one
  unless a random source is given), save nodes' `filename_prefix` gets `%Node.widget%` replaced.

`convert_workflow()` returns the prompt with what an operator should know: ComfyUI groups (with the
nodes inside them), node classes the backend lacks, and warnings.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

SUBGRAPH_INPUT_ID = -10
SUBGRAPH_OUTPUT_ID = -20
MODE_NEVER = 2  # "muted"
MODE_BYPASS = 4
JS_MAX_SAFE_INTEGER = 2**53

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
# Input types the front end draws as widgets (scripts/widgets.ts and the core extensions' custom widgets).
WIDGET_TYPES = {
    "INT",
    "FLOAT",
    "BOOLEAN",
    "STRING",
    "MARKDOWN",
    "COMBO",
    "IMAGEUPLOAD",
    "COLOR",
    "IMAGECOMPARE",
    "CHART",
    "GALLERIA",
    "TEXTAREA",
    "WEBCAM",
    "LOAD_3D",
    "LOAD_3D_ANIMATION",
    "PREVIEW_3D",
    "AUDIO_UI",
    "AUDIO_RECORD",
}
MEDIA_UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
SEED_NAMES = ("seed", "noise_seed")
# Save nodes whose filename_prefix gets %Node.widget% / %date:…% replaced (saveImageExtraOutput.ts).
SAVE_NODE_TYPES = {
    "SaveImage",
    "SaveVideo",
    "SaveAnimatedWEBP",
    "SaveWEBM",
    "SaveAudio",
    "SaveGLB",
    "SaveAnimatedPNG",
    "CLIPSave",
    "VAESave",
    "ModelSave",
    "LoraSave",
    "SaveLatent",
}
# The English names the front end shows instead of the backend's display_name (its own translation table).
FRONTEND_TITLES = {
    "EmptyHunyuanLatentVideo": "EmptyHunyuanLatentVideo",
    "Load3D": "Load 3D",
    "Preview3D": "Preview 3D",
    "PreviewAny": "Preview Any",
}
# Nodes whose widgets the front end fills when the prompt is queued (a camera frame, a 3D scene capture):
# the import keeps the saved value and says so.
CAPTURED_AT_QUEUE_TIME = {"WebcamCapture", "Load3D"}
# Inputs the front end's extensions add to a node class (load3d.ts, saveMesh.ts): a 3D preview widget.
EXTRA_INPUTS = {"Preview3D": {"image": ["PREVIEW_3D"]}, "SaveGLB": {"image": ["PREVIEW_3D"]}}
PRIMITIVE_REPLACE_PROPERTY = "Run widget replace on values"
S_AND_R_PROPERTY = "Node name for S&R"

RandomSource = Callable[[], float]


class WorkflowConversionError(ValueError):
    """The workflow cannot be turned into a prompt; the message names the node and the reason."""


@dataclass
class GroupInfo:
    """A ComfyUI group (a titled box on the canvas) and the prompt nodes inside it."""

    title: str
    node_ids: list[str]
    bounding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


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
class Conversion:
    """What `convert_workflow` made: the API prompt and what the operator should know about it."""

    prompt: dict
    groups: list[GroupInfo] = field(default_factory=list)
    missing: list[MissingNode] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- formats


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


# ------------------------------------------------------------------------------------- JavaScript values


def js_number(value: Any) -> Any:
    """A JSON number as JavaScript holds it: integers beyond 2**53 lose their last digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JS_MAX_SAFE_INTEGER:
        return int(float(value))
    return value


def js_round(value: float) -> float:
    """Math.round: halves go up (towards +infinity)."""
    return math.floor(value + 0.5)


def js_to_fixed(value: float, digits: int) -> float:
    """Number(value.toFixed(digits)): the exact binary value rounded half away from zero."""
    if not math.isfinite(value):
        return value
    quantum = Decimal(1).scaleb(-digits)
    return float(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def js_string(value: Any) -> str:
    """String(value) as a textarea keeps it (null → "", line breaks normalised to \\n)."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        text = str(int(value))
    elif isinstance(value, (dict, list)):
        text = "[object Object]" if isinstance(value, dict) else ",".join(js_string(v) for v in value)
    else:
        text = str(value)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def js_truthy(value: Any) -> bool:
    return not (value is None or value is False or value == "" or (isinstance(value, (int, float)) and value == 0))


def js_mod(a: float, b: float) -> float:
    """a % b with the sign of the dividend, as in JavaScript."""
    return math.fmod(a, b) if b else math.nan


def js_equal_types(a: Any, b: Any) -> bool:
    """LiteGraph.isValidConnection: "*" and "" match anything; lists "A,B" match any member; case-insensitive."""
    a = 0 if a in ("", "*") else a
    b = 0 if b in ("", "*") else b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(js_equal_types(x, y) for x in a.split(",") for y in b.split(","))


# -------------------------------------------------------------------------------------- dynamic prompts

COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//.*")


def process_dynamic_prompt(text: str, random: RandomSource) -> str:
    """The front end's processDynamicPrompt: strip C-style comments, resolve {a|b|{c|d}} choices."""
    text = COMMENTS.sub("", text)
    return _dynamic(text, random)


def _dynamic(text: str, random: RandomSource) -> str:
    i = 0
    result = []
    while i < len(text):
        char = text[i]
        i += 1
        if char == "\\":
            result.append("\\" + (text[i] if i < len(text) else "undefined"))
            i += 1
        elif char == "{":
            options, choice, depth = [], "", 0
            while i < len(text):
                char = text[i]
                i += 1
                if char == "\\":
                    choice += "\\" + (text[i] if i < len(text) else "undefined")
                    i += 1
                    continue
                if char == "{":
                    depth += 1
                elif char == "}":
                    if not depth:
                        break
                    depth -= 1
                elif char == "|" and not depth:
                    options.append(choice)
                    choice = ""
                    continue
                choice += char
            options.append(choice)
            picked = options[math.floor(random() * len(options))]
            result.append(process_dynamic_prompt(picked, random))
        else:
            result.append(char)
    return re.sub(r"\\([{}|])", r"\1", "".join(result))


def format_date(pattern: str, now: datetime) -> str:
    """The front end's formatDate for %date:yyyy-MM-dd% in file name prefixes."""
    parts = {"d": now.day, "M": now.month, "h": now.hour, "m": now.minute, "s": now.second}

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token.startswith("y"):
            return {"yy": str(now.year)[2:], "yyyy": str(now.year)}.get(token, token)
        if token[0] in parts:
            return str(parts[token[0]]).rjust(len(token), "0")
        return token

    return re.sub(r"dd?|MM?|hh?|mm?|ss?|yyy?y?", replace, pattern)


# ---------------------------------------------------------------------------------------------- widgets


@dataclass
class Widget:
    """One widget of a node as the front end builds it."""

    name: str
    kind: str  # number, combo, toggle, text, customtext, button, control, filter, custom
    value: Any = None
    in_prompt: bool = True  # widget.options.serialize !== false
    has_slot: bool = True  # widget.serialize !== false: takes one entry of widgets_values
    spec: dict = field(default_factory=dict)  # the input's options (min, max, step, round, …)
    input_type: str = ""  # INT, FLOAT, STRING, COMBO, …
    upload_default: str | None = None  # image-upload combos: the value shown when none is set
    upload_folder: str = "input"
    dynamic_prompts: bool = False
    was_set: bool = False

    def set(self, value: Any) -> None:
        """Assign like the widget's value setter does."""
        if self.kind == "customtext":
            value = js_string(value)
        self.value = js_number(value)
        self.was_set = True

    def get(self) -> Any:
        """Read like the widget's value getter does (image-upload combos annotate other folders)."""
        if self.upload_default is not None:
            return self._upload_value()
        return self.value

    def _upload_value(self) -> Any:
        value = self.value if self.was_set else self.upload_default
        if not js_truthy(value):
            return self.upload_default
        if isinstance(value, list):
            paths = [self._annotated(v) for v in value]
            return paths if self.spec.get("allow_batch") else (paths[0] if paths else self.upload_default)
        return self._annotated(value)

    def _annotated(self, value: Any) -> str:
        if isinstance(value, dict):
            name = str(value.get("filename") or "")
            path = f"{value['subfolder']}/{name}" if value.get("subfolder") else name
            kind = value.get("type")
            return path + (_annotation(str(kind), self.upload_folder) if kind else "")
        text = js_string(value)
        return text + _annotation(text, self.upload_folder)

    def on_change(self) -> None:
        """The widget's callback after a primitive node set it: numbers snap to their step and bounds."""
        value = self.value
        if self.input_type == "INT" and isinstance(value, (int, float)) and not isinstance(value, bool):
            step = self.spec.get("step") or 1
            if step == 1:
                rounded = js_round(value)
            else:
                offset = js_mod(self.spec.get("min", 0) or 0, step)
                rounded = js_round((value - offset) / step) * step + offset
            self.value = _as_int(rounded)
        elif self.input_type == "FLOAT" and isinstance(value, (int, float)) and not isinstance(value, bool):
            round_to = _float_round(self.spec)
            if round_to:
                rounded = js_to_fixed(js_round(value / round_to) * round_to, _float_precision(self.spec))
                lo = self.spec.get("min")
                hi = self.spec.get("max")
                lo = 0 if lo is None else lo
                hi = 2048 if hi is None else hi
                self.value = _as_int(min(max(rounded, lo), hi))


def _annotation(path: str, folder: str) -> str:
    if re.search(r"\[(input|output|temp)\]", path, re.IGNORECASE) or folder == "input":
        return ""
    return f" [{folder}]"


def _as_int(value: float) -> float | int:
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 1e21 else value


def _float_precision(spec: dict) -> int:
    """The FLOAT widget's precision: the decimals of its step (0.5 when the input names none)."""
    step = spec.get("step")
    step = 0.5 if step is None else step
    if not isinstance(step, (int, float)) or step <= 0:
        return 0
    return max(0, -math.floor(math.log10(step)))


def _float_round(spec: dict) -> float | None:
    """The FLOAT widget's `round` option: 10**-precision unless the input sets its own."""
    precision = _float_precision(spec)
    if precision and not spec.get("round"):
        return 10.0**-precision
    round_to = spec.get("round")
    return round_to if isinstance(round_to, (int, float)) and not isinstance(round_to, bool) and round_to else None


@dataclass
class SlotSpec:
    name: str
    type: str
    widget: str | None = None


@dataclass
class Layout:
    """What the front end builds for a node class: its input sockets, outputs and widgets."""

    class_type: str
    title: str
    inputs: list[SlotSpec]
    outputs: list[SlotSpec]
    widgets: list[Widget]
    input_specs: dict[str, dict]  # name → {"type", "options", "optional"} in definition order (for migration)


def _v1_type(spec: list) -> tuple[str, dict, list | None]:
    """(type, options, combo values) of an /object_info input spec."""
    if not isinstance(spec, (list, tuple)) or not spec:
        return "*", {}, None
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(kind, list):
        return "COMBO", options, list(kind)
    if kind == "COMBO":
        values = options.get("options")
        return "COMBO", options, list(values) if isinstance(values, list) else []
    return str(kind), options, None


def _ordered_inputs(definition: dict) -> list[tuple[str, list, bool]]:
    """(name, V1 spec, optional) in the order the front end adds them (nodeDefOrderingUtil)."""
    declared = definition.get("input") or {}
    required = dict(declared.get("required") or {})
    optional = dict(declared.get("optional") or {})
    required.update(EXTRA_INPUTS.get(str(definition.get("name")), {}))
    for name, spec in list(required.items()):
        kind, options, _values = _v1_type(spec)
        if kind == "COMBO" and any(options.get(flag) is True for flag in MEDIA_UPLOAD_FLAGS):
            required["upload"] = ["IMAGEUPLOAD", {**options, "imageInputName": name}]
            break
    everything: dict[str, tuple[list, bool]] = {name: (spec, False) for name, spec in required.items()}
    everything.update({name: (spec, True) for name, spec in optional.items()})
    order = definition.get("input_order")
    if not isinstance(order, dict):
        return [(name, spec, opt) for name, (spec, opt) in everything.items()]
    ordered: list[tuple[str, list, bool]] = []
    for name in order.get("required") or []:
        if name in everything and not everything[name][1]:
            ordered.append((name, *everything[name]))
    for name in order.get("optional") or []:
        if name in everything and everything[name][1]:
            ordered.append((name, *everything[name]))
    done = {name for name, _spec, _opt in ordered}
    ordered.extend((name, spec, opt) for name, (spec, opt) in everything.items() if name not in done)
    return ordered


def _control_widgets(options: dict, target_kind: str, default: str = "randomize") -> list[Widget]:
    def name(default_name: str) -> str:
        if isinstance(options.get(default_name), str):
            return options[default_name]
        if options.get("control_prefix"):
            return f"{options['control_prefix']} {default_name}"
        return default_name

    widgets = [Widget(name("control_after_generate"), "control", default, in_prompt=False)]
    if target_kind == "combo":
        widgets.append(Widget(name("control_filter_list"), "filter", "", in_prompt=False))
    return widgets


def _widgets_for_input(name: str, kind: str, options: dict, values: list | None, node_layout: list[Widget]) -> None:
    """Append the widgets the front end's constructor for `kind` adds (scripts/widgets.ts)."""
    if kind == "INT":
        widget = Widget(name, "number", js_number(options.get("default", 0)), spec=options, input_type="INT")
        node_layout.append(widget)
        control = options.get("control_after_generate")
        if control is None:
            control = name in SEED_NAMES
        if control:
            node_layout.extend(_control_widgets(options, "number"))
    elif kind == "FLOAT":
        node_layout.append(Widget(name, "number", options.get("default", 0), spec=options, input_type="FLOAT"))
    elif kind == "BOOLEAN":
        node_layout.append(Widget(name, "toggle", options.get("default", False), spec=options, input_type="BOOLEAN"))
    elif kind == "STRING":
        multiline = bool(options.get("multiline"))
        widget = Widget(
            name,
            "customtext" if multiline else "text",
            options.get("default", ""),
            spec=options,
            input_type="STRING",
            dynamic_prompts=options.get("dynamicPrompts") is True,
        )
        if multiline:
            widget.value = js_string(widget.value)
        node_layout.append(widget)
    elif kind == "COMBO":
        values = values or []
        default = options.get("default") if js_truthy(options.get("default")) else None
        if default is None:
            default = values[0] if values else ("Loading..." if options.get("remote") else None)
        widget = Widget(name, "combo", default, spec=options, input_type="COMBO")
        if options.get("multi_select"):
            widget.kind = "multiselect"
            widget.value = default if isinstance(default, list) else []
        node_layout.append(widget)
        if isinstance(options.get("remote"), dict):  # useRemoteWidget: an auto-refresh toggle, a refresh button
            node_layout.append(Widget("Auto-refresh after generation", "toggle", False, in_prompt=False))
            if options["remote"].get("refresh_button"):
                node_layout.append(Widget("refresh", "button", "refresh"))
        if options.get("control_after_generate"):
            node_layout.extend(_control_widgets(options, "combo"))
    elif kind == "IMAGEUPLOAD":
        target = next((w for w in node_layout if w.name == options.get("imageInputName")), None)
        if target is not None:
            target.upload_default = js_string(target.value) if target.value is not None else "undefined"
            target.upload_folder = str(options.get("image_folder") or "input")
        node_layout.append(Widget(name, "button", "image", in_prompt=False))
    elif kind == "MARKDOWN":
        node_layout.append(Widget(name, "markdown", options.get("default", ""), has_slot=False))
    elif kind == "PREVIEW_3D":
        node_layout.append(Widget(name, "custom", "", spec=options, input_type=kind))
    else:
        node_layout.append(Widget(name, "custom", options.get("default"), spec=options, input_type=kind))


def build_layout(class_type: str, definition: dict) -> Layout:
    """The sockets, outputs and widgets the front end gives a node of this class."""
    sockets: list[SlotSpec] = []
    widget_inputs: list[SlotSpec] = []
    widgets: list[Widget] = []
    input_specs: dict[str, dict] = {}
    for name, spec, optional in _ordered_inputs(definition):
        kind, options, values = _v1_type(spec)
        input_specs[name] = {"type": kind, "options": options, "optional": optional}
        widget_kind = options.get("widgetType") or kind
        if widget_kind in WIDGET_TYPES and not options.get("forceInput"):
            _widgets_for_input(name, widget_kind, options, values, widgets)
            widget_inputs.append(SlotSpec(name, kind, name))
        else:
            sockets.append(SlotSpec(name, kind))
    names = definition.get("output_name") or []
    outputs = []
    for index, kind in enumerate(definition.get("output") or []):
        output_type = "COMBO" if isinstance(kind, list) else str(kind)
        outputs.append(
            SlotSpec(names[index] if index < len(names) and names[index] else f"output_{index}", output_type)
        )
    if class_type == "PreviewAny":  # previewAny.ts: a read-only text showing the value once run
        widgets.append(Widget("preview", "markdown", "", has_slot=False))
    title = FRONTEND_TITLES.get(class_type) or definition.get("display_name") or definition.get("name") or class_type
    return Layout(class_type, title, sockets + widget_inputs, outputs, widgets, input_specs)


def migrate_widgets_values(layout: Layout, widgets: list[Widget], values: Any) -> Any:
    """Drop values that front ends before 1.16 saved for inputs that are sockets now (forceInput)."""
    if not isinstance(values, list):
        return values
    names = {w.name for w in widgets}
    originals = [
        (name, spec) for name, spec in layout.input_specs.items() if name in names or spec["options"].get("forceInput")
    ]
    count = sum(
        2 if spec["options"].get("control_after_generate") or name in SEED_NAMES else 1 for name, spec in originals
    )
    if count != len(values):
        return values
    kept = []
    for index, value in enumerate(values):
        spec = originals[index][1] if index < len(originals) else None
        if not (spec and spec["options"].get("forceInput")):
            kept.append(value)
    return kept


# ------------------------------------------------------------------------------------------------ graph


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
            link = _parse_link(raw)
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


def _parse_link(raw: object) -> Link | None:
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


# -------------------------------------------------------------------------------------------- converter


class _Converter:
    def __init__(self, workflow: dict, object_info: dict, random: RandomSource, now: datetime) -> None:
        self.workflow = copy.deepcopy(workflow)
        self.object_info = object_info
        self.random = random
        self.now = now
        self.layouts: dict[str, Layout] = {}
        self.definitions: dict[str, dict] = {}
        self.subgraphs: dict[str, Graph] = {}
        self.missing: list[MissingNode] = []
        self.warnings: list[str] = []

    # --- loading -----------------------------------------------------------------------------------

    def layout(self, class_type: str) -> Layout | None:
        if class_type not in self.layouts:
            definition = self.object_info.get(class_type)
            self.layouts[class_type] = build_layout(class_type, definition) if isinstance(definition, dict) else None
        return self.layouts[class_type]

    def load(self) -> Graph:
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
            self._promote_all(graph, configured)
            configured.add(id(graph))
        self._load_nodes(root, self.workflow.get("nodes") or [], "")
        self._promote_all(root, configured)
        for graph in [root, *self.subgraphs.values()]:
            self._fix_link_slots(graph)
            self._drop_inputs_without_widgets(graph)
        for node in root.nodes:  # app.loadGraphData patches old sampler names on the root graph's nodes
            widget = node.widget("sampler_name") if node.type in ("KSampler", "KSamplerAdvanced") else None
            if widget is not None and isinstance(widget.value, str) and widget.value.startswith("sample_"):
                widget.value = widget.value[7:]
        return root

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
            inputs = [_saved_slot(i) for i in saved_inputs]
            outputs = [_saved_slot(o) for o in saved_outputs]
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
            inputs.append(Slot(spec.name, spec.type, _link_id(saved), widget))
        defined = {spec.name for spec in layout.inputs}
        inputs.extend(_saved_slot(saved) for saved in saved_inputs if str(saved.get("name")) not in defined)
        outputs = [Slot(spec.name, spec.type) for spec in layout.outputs]
        outputs.extend(_saved_slot(saved) for saved in saved_outputs[len(outputs) :])
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
            slot = _saved_slot(saved) if saved else Slot(io.name, io.type)
            slot.type = io.type
            inputs.append(slot)
        defined = {io.name for io in subgraph.inputs}
        inputs.extend(_saved_slot(saved) for saved in saved_inputs if str(saved.get("name")) not in defined)
        outputs = [Slot(io.name, io.type) for io in subgraph.outputs]
        for index, saved in enumerate(saved_outputs):
            if index < len(outputs):
                outputs[index] = _saved_slot(saved)
            else:
                outputs.append(_saved_slot(saved))
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
        self._fix_link_slots(graph)

    def _fix_link_slots(self, graph: Graph) -> None:
        """fixLinkInputSlots: a link's target slot is the index of the input that holds it."""
        for node in graph.nodes:
            for index, slot in enumerate(node.inputs):
                if slot.link is not None and slot.link in graph.links:
                    graph.links[slot.link].target_slot = index

    # --- subgraph instances: promoted widgets ----------------------------------------------------------

    def _promote_all(self, graph: Graph, configured: set[int]) -> None:
        """Give every subgraph instance of `graph` its promoted widgets and their saved values."""
        for node in graph.nodes:
            if node.subgraph is not None:
                self._promote(node, ready=id(node.subgraph) in configured)

    def _promote(self, node: Node, *, ready: bool) -> None:
        """SubgraphNode.configure: one widget per subgraph input that feeds an inner widget, then the saved values."""
        subgraph = node.subgraph
        assert subgraph is not None
        node.widgets = []
        if not ready:
            return
        for slot in node.inputs:
            io = next((io for io in subgraph.inputs if io.name == slot.name), None)
            if io is None:
                continue
            for link_id in io.link_ids:
                link = subgraph.links.get(link_id)
                if link is None:
                    continue
                # The front end promotes before it re-points links at their inputs: the slot is the saved one.
                inner = subgraph.node(link.target_id)
                slot_index = link.saved_target_slot
                target = inner.inputs[slot_index] if inner and 0 <= slot_index < len(inner.inputs) else None
                widget = inner.widget(target.widget) if inner and target and target.widget else None
                if widget is None:
                    continue
                meant = inner.inputs[link.target_slot].widget if 0 <= link.target_slot < len(inner.inputs) else None
                if meant != widget.name:
                    self.warnings.append(
                        f"node {node.id} ({node.title}): ComfyUI's page gives the subgraph input {io.name} the value "
                        f"of widget {widget.name} of inner node {inner.id} (the file's links are out of date); "
                        "check the value in the prompt."
                    )
                promoted = copy.copy(widget)
                promoted.value = widget.get()
                promoted.upload_default = None
                promoted.name = io.name
                count = sum(1 for s in node.inputs if s.widget)
                node.widgets.insert(min(count, len(node.widgets)), promoted)
                slot.widget = io.name
                break
        values = node.data.get("widgets_values")
        if isinstance(values, list):
            with_slots = [w for w in node.widgets if w.has_slot]
            for index, value in enumerate(values):
                if index < len(with_slots):
                    with_slots[index].set(value)
        proxies = node.properties.get("proxyWidgets")
        if isinstance(proxies, list) and all(isinstance(p, list) and len(p) == 2 for p in proxies):
            parsed = [(str(p[0]), str(p[1])) for p in proxies]
            kept = [w for w in node.widgets if not any(w.name == name for _id, name in parsed)]
            listed = []
            for proxied_id, name in parsed:
                if proxied_id == "-1":
                    widget = node.widget(name)
                    if widget is not None:
                        listed.append(widget)
            node.widgets = kept + listed
            if isinstance(values, list):
                for index, value in enumerate(values):
                    if index < len(parsed) and parsed[index][0] == "-1":
                        widget = node.widget(parsed[index][1])
                        if value is not None and widget is not None:
                            widget.set(value)

    # --- primitive nodes ------------------------------------------------------------------------------

    def apply_primitives(self, graph: Graph, root: Graph) -> None:
        for node in graph.nodes:
            if node.type == "PrimitiveNode":
                self._apply_primitive(node, root)

    def _primitive_value(self, node: Node, root: Graph) -> tuple[bool, Any, list[Link]]:
        links_out = node.output_links[0] if node.output_links else []
        if not links_out:
            return False, None, []
        first = root.links.get(links_out[0]) if node.graph is root else node.graph.links.get(links_out[0])
        if first is None:
            return False, None, []
        target = node.graph.node(first.target_id)
        if target is None or not (0 <= first.target_slot < len(target.inputs)):
            return False, None, []
        slot = target.inputs[first.target_slot]
        their = target.widget(slot.widget)
        if slot.widget is None and slot.type not in WIDGET_TYPES:
            return False, None, []
        values = node.data.get("widgets_values")
        value = their.get() if their is not None else None
        if isinstance(values, list) and values:
            value = values[0]
            if their is not None and their.kind == "customtext":
                value = js_string(value)
        value = js_number(value)
        if value and node.properties.get(PRIMITIVE_REPLACE_PROPERTY):
            value = self.text_replacements(root, str(value))
        links = []
        for link_id in links_out:
            link = root.links.get(link_id)  # the front end reads the root graph's links (app.graph.links)
            if link is None:
                raise WorkflowConversionError(
                    f"node {node.id} (Primitive): its link {link_id} cannot be found; "
                    "ComfyUI's page cannot queue this workflow either."
                )
            links.append(link)
        return True, value, links

    def _apply_primitive(self, node: Node, root: Graph) -> None:
        ok, value, links = self._primitive_value(node, root)
        if not ok:
            return
        for link in links:
            target = node.graph.node(link.target_id)
            if target is None or not (0 <= link.target_slot < len(target.inputs)):
                self.warnings.append(f"node {node.id} (Primitive): a link leads nowhere; it was ignored.")
                continue
            widget = target.widget(target.inputs[link.target_slot].widget)
            if widget is None:
                continue
            widget.set(value)
            widget.on_change()

    # --- serialisation side effects ---------------------------------------------------------------------

    def sync_promoted(self, graph: Graph) -> None:
        """SubgraphNode.serialize(): promoted widget values are copied into the widgets they stand for."""
        for node in graph.nodes:
            if node.subgraph is None:
                continue
            for widget in node.widgets:
                if not any(slot.name == widget.name for slot in node.inputs):
                    continue
                io = next((io for io in node.subgraph.inputs if io.name == widget.name), None)
                if io is None:
                    continue
                for inner_widget in self._connected_widgets(node.subgraph, io):
                    inner_widget.set(widget.value)

    def _connected_widgets(self, subgraph: Graph, io: SubgraphIO) -> Iterator[Widget]:
        for link_id in io.link_ids:
            link = subgraph.links.get(link_id)
            if link is None:
                continue
            inner = subgraph.node(link.target_id)
            if inner is None or not (0 <= link.target_slot < len(inner.inputs)):
                continue
            widget = inner.widget(inner.inputs[link.target_slot].widget)
            if widget is not None:
                yield widget

    def text_replacements(self, root: Graph, value: str) -> str:
        """applyTextReplacements: %Node.widget% and %date:…% in file name prefixes."""
        every = [node for graph in [root, *self.subgraphs.values()] for node in graph.nodes]

        def replace(match: re.Match) -> str:
            text = match.group(1)
            split = text.split(".")
            if len(split) != 2:
                if split[0].startswith("date:"):
                    return format_date(split[0][5:], self.now)
                return match.group(0)
            nodes = [n for n in every if n.properties.get(S_AND_R_PROPERTY) == split[0]]
            if not nodes:
                nodes = [n for n in every if n.title == split[0]]
            if not nodes:
                return match.group(0)
            widget = nodes[0].widget(split[1])
            if widget is None:
                return match.group(0)
            shown = widget.get()
            return re.sub(r'[/?<>\\:*|"\x00-\x1F\x7F]', "_", js_string("" if shown is None else shown))

        return re.sub(r"%([^%]+)%", replace, value)

    # --- execution DTOs -----------------------------------------------------------------------------------

    def flatten(self, root: Graph) -> dict[str, _Executable]:
        executables: dict[str, _Executable] = {}
        for node in root.nodes:
            dto = _Executable(self, node, (), executables, None)
            if node.subgraph is not None:
                self._inner(node, (), executables, None, set())
            executables[dto.id] = dto
        return executables

    def _inner(self, node: Node, path: tuple, executables: dict, parent: Node | None, visited: set) -> None:
        if id(node) in visited:
            raise WorkflowConversionError(f"subgraph node {node.id} contains itself.")
        visited = visited | {id(node)}
        dto = _Executable(self, node, path, executables, parent)
        executables[dto.id] = dto
        inner_path = (*path, node.id)
        assert node.subgraph is not None
        for inner in node.subgraph.nodes:
            if inner.subgraph is not None:
                self._inner(inner, inner_path, executables, node, visited)
            else:
                inner_dto = _Executable(self, inner, inner_path, executables, node)
                executables[inner_dto.id] = inner_dto

    def serialize_value(self, node: Node, widget: Widget, root: Graph, node_id: str) -> Any:
        value = widget.get()
        if widget.dynamic_prompts and isinstance(value, str):
            processed = process_dynamic_prompt(value, self.random)
            if processed != value:
                self.warnings.append(
                    f"node {node_id} ({node.title}): {widget.name} uses ComfyUI's dynamic prompt syntax "
                    "(comments, {a|b} choices), which ComfyUI's page resolves when it queues; the prompt holds "
                    "one resolved text."
                )
            return processed
        if node.comfy_class in SAVE_NODE_TYPES and widget.name == "filename_prefix" and isinstance(value, str):
            return self.text_replacements(root, value)
        return value


def _link_id(saved: dict | None) -> int | None:
    link = (saved or {}).get("link")
    return link if isinstance(link, int) and not isinstance(link, bool) else None


def _saved_slot(saved: dict) -> Slot:
    widget = saved.get("widget") if isinstance(saved.get("widget"), dict) else None
    return Slot(str(saved.get("name", "")), saved.get("type", "*"), _link_id(saved), (widget or {}).get("name"))


@dataclass
class _Resolved:
    origin_id: str
    origin_slot: int
    widget_value: Any = None
    is_widget: bool = False


class _Executable:
    """ExecutableNodeDTO: one node of the flattened graph, with its id path through subgraph instances."""

    def __init__(self, converter: _Converter, node: Node, path: tuple, executables: dict, subgraph_node) -> None:
        self.converter = converter
        self.node = node
        self.path = path
        self.executables = executables
        self.subgraph_node: Node | None = subgraph_node
        self.id = ":".join(str(part) for part in (*path, node.id))

    def _error(self, reason: str) -> WorkflowConversionError:
        title = f" ({self.node.title})" if self.node.title else ""
        return WorkflowConversionError(f"node {self.id}{title}: {reason}")

    def resolve_input(self, slot: int, visited: set, type_: Any = None) -> _Resolved | None:
        key = f"{id(self.subgraph_node.subgraph) if self.subgraph_node else None}:{self.node.id}[I]{slot}"
        if key in visited:
            raise self._error("its links go round in a circle.")
        visited.add(key)
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
            if not (0 <= link.origin_slot < len(outer.inputs)):
                raise self._error(f"the subgraph has no input {link.origin_slot}.")
            outer_slot = outer.inputs[link.origin_slot]
            if outer_slot.link is None:
                widget = outer.widget(outer_slot.widget)
                if widget is None:
                    return None
                return _Resolved(self.id, -1, widget.get(), is_widget=True)
            outer_link = outer.graph.links.get(outer_slot.link)
            if outer_link is None:
                raise self._error(f"the subgraph's input {outer_slot.name} points at a link that does not exist.")
            outer_dto = self.executables.get(":".join(str(p) for p in self.path))
            if outer_dto is None:
                raise self._error("its subgraph node is missing.")
            return outer_dto.resolve_input(outer_link.target_slot, visited)
        origin = graph.node(link.origin_id)
        if origin is None:
            raise self._error(
                f"its input {self.node.inputs[slot].name} comes from node {link.origin_id}, which does not exist."
            )
        origin_dto = self.executables.get(":".join(str(p) for p in (*self.path, origin.id)))
        if origin_dto is None:
            raise self._error(f"node {origin.id} is missing from the flattened graph.")
        return origin_dto.resolve_output(
            link.origin_slot, type_ if type_ is not None else self.node.inputs[slot].type, visited
        )

    def resolve_output(self, slot: int, type_: Any, visited: set) -> _Resolved | None:
        key = f"{id(self.subgraph_node.subgraph) if self.subgraph_node else None}:{self.node.id}[O]{slot}"
        if key in visited:
            raise self._error("its links go round in a circle.")
        visited.add(key)
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
                target_dto = self.executables.get(":".join(str(p) for p in (*self.path, target.id)))
                if target_dto is None:
                    raise self._error(f"node {target.id} is missing from the flattened graph.")
                return target_dto.resolve_input(link.target_slot, visited, type_)
            return None
        return _Resolved(self.id, slot)

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

    def _resolve_subgraph_output(self, slot: int, type_: Any, visited: set) -> _Resolved | None:
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
        inner_dto = self.executables.get(":".join(str(p) for p in (*self.path, self.node.id, inner.id)))
        if inner_dto is None:
            raise self._error(f"inner node {inner.id} is missing from the flattened graph.")
        return inner_dto.resolve_output(link.origin_slot, type_, visited)


def convert_workflow(
    workflow: dict,
    object_info: dict,
    *,
    random: RandomSource | None = None,
    now: datetime | None = None,
) -> Conversion:
    """The API prompt ComfyUI's page would queue for `workflow`, given the backend's `/object_info`.

    `random` picks among {a|b} dynamic-prompt choices (ComfyUI's page uses Math.random; the default
    always takes the first choice, so an import is reproducible). Raises WorkflowConversionError.
    """
    if not is_ui_workflow(workflow):
        raise WorkflowConversionError("this is not a ComfyUI workflow (it has no nodes and links).")
    converter = _Converter(workflow, object_info, random or (lambda: 0.0), now or datetime.now())
    root = converter.load()
    converter.apply_primitives(root, root)
    for subgraph in converter.subgraphs.values():
        converter.apply_primitives(subgraph, root)
    converter.sync_promoted(root)
    for subgraph in converter.subgraphs.values():
        converter.sync_promoted(subgraph)
    executables = converter.flatten(root)
    prompt: dict[str, dict] = {}
    for dto in executables.values():
        node = dto.node
        if node.virtual or node.mode in (MODE_NEVER, MODE_BYPASS):
            continue
        inputs: dict[str, Any] = {}
        for widget in node.widgets:
            if not widget.name or not widget.in_prompt:
                continue
            value = converter.serialize_value(node, widget, root, dto.id)
            inputs[widget.name] = {"__value__": value} if isinstance(value, list) else value
        for index, slot in enumerate(node.inputs):
            resolved = dto.resolve_input(index, set())
            if resolved is None:
                continue
            if resolved.is_widget:
                value = resolved.widget_value
                inputs[slot.name] = {"__value__": value} if isinstance(value, list) else value
                continue
            inputs[slot.name] = [str(resolved.origin_id), int(resolved.origin_slot)]
        if node.comfy_class in CAPTURED_AT_QUEUE_TIME:
            converter.warnings.append(
                f"node {dto.id} ({node.title}): ComfyUI's page captures this node's picture when it queues; "
                "the prompt keeps the saved value."
            )
        entry: dict[str, Any] = {"inputs": inputs}
        if node.comfy_class is not None:
            entry["class_type"] = node.comfy_class
        entry["_meta"] = {"title": node.title}
        prompt[dto.id] = entry
    for entry in prompt.values():
        inputs = entry["inputs"]
        for name, value in list(inputs.items()):
            if isinstance(value, list) and len(value) == 2 and value[0] not in prompt:
                del inputs[name]
    groups = _groups(workflow, root, prompt)
    return Conversion(prompt=prompt, groups=groups, missing=converter.missing, warnings=converter.warnings)


def _groups(workflow: dict, root: Graph, prompt: dict) -> list[GroupInfo]:
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
    if depth > 16:
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
    """The prompt ids a node stands for (all inner nodes for a subgraph instance)."""
    own = f"{prefix}{node.id}"
    if node.subgraph is None:
        return [own] if own in prompt else []
    return [node_id for node_id in prompt if node_id.startswith(own + ":")]
