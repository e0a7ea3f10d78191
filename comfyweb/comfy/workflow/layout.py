"""What the front end builds for a node class from the backend's `/object_info`: its input sockets, outputs
and widgets, in the order their values sit in a saved node's `widgets_values`.

Inputs come in `input_order`, widget inputs after socket inputs; a `control_after_generate` widget follows
each seed-like number (its value is saved but never sent), an `upload` button follows image uploads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from comfyweb.comfy.workflow.js_values import js_number, js_string, js_truthy
from comfyweb.comfy.workflow.widgets import Widget

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
# The English names the front end shows instead of the backend's display_name (its own translation table).
FRONTEND_TITLES = {
    "EmptyHunyuanLatentVideo": "EmptyHunyuanLatentVideo",
    "Load3D": "Load 3D",
    "Preview3D": "Preview 3D",
    "PreviewAny": "Preview Any",
}
# Inputs the front end's extensions add to a node class (load3d.ts, saveMesh.ts): a 3D preview widget.
EXTRA_INPUTS = {"Preview3D": {"image": ["PREVIEW_3D"]}, "SaveGLB": {"image": ["PREVIEW_3D"]}}


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


def input_type(spec: Any) -> tuple[str, dict, list | None]:
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


def frontend_inputs(definition: dict) -> tuple[dict, dict]:
    """The required and optional inputs of a node class once the front end's extensions have added theirs
    (a 3D preview, the `upload` button after the first media combo: uploadImage.ts)."""
    declared = definition.get("input") or {}
    required = dict(declared.get("required") or {})
    optional = dict(declared.get("optional") or {})
    required.update(EXTRA_INPUTS.get(str(definition.get("name")), {}))
    for name, spec in list(required.items()):
        kind, options, _values = input_type(spec)
        if kind == "COMBO" and any(options.get(flag) is True for flag in MEDIA_UPLOAD_FLAGS):
            required["upload"] = ["IMAGEUPLOAD", {**options, "imageInputName": name}]
            break
    return required, optional


def is_widget_input(spec: Any) -> bool:
    """widgetStore.inputIsWidget: the input's type has a widget (whatever its options say)."""
    return input_type(spec)[0] in WIDGET_TYPES


def _ordered_inputs(definition: dict) -> list[tuple[str, list, bool]]:
    """(name, V1 spec, optional) in the order the front end adds them (nodeDefOrderingUtil)."""
    required, optional = frontend_inputs(definition)
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
        kind, options, values = input_type(spec)
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
