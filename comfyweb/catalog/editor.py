"""The admin's editor of a template's visitor fields: the `params` JSON as cards an operator can tick,
reorder, rename and tune, with the JSON still there (and kept in sync) as the advanced view.

The server draws the cards (`render_editor`) from the prompt, the params and the fields proposed for the
prompt (catalog.proposals); `static/js/studio.js` reads the cards back into the params JSON (and the
default values into the prompt) as the operator edits, and asks the server to redraw them after a change
of structure (`apply_operation`: a new field, another type, choices listed here or read from the backend).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from comfyweb.catalog.backends_check import combo_options
from comfyweb.catalog.forms import option_label
from comfyweb.catalog.params import field_name, iter_panels
from comfyweb.catalog.proposals import Proposal, propose_params
from comfyweb.catalog.translations import content_language
from comfyweb.comfy.prompt import is_link

FIELD_TYPES = ("image", "select", "number", "string")
TYPE_LABELS = {
    "image": gettext_lazy("picture"),
    "select": gettext_lazy("choice"),
    "number": gettext_lazy("number"),
    "string": gettext_lazy("text"),
}
IMAGE_MODES = ("upload", "gallery", "both")
SHORT_VALUE = 40


@dataclass
class Card:
    """One row of the editor: a step (a group panel, its cards inside) or a field (exposed, or a proposal
    left unused)."""

    kind: str  # "step" | "field"
    panel: dict
    exposed: bool = True
    reason: str = ""
    recommended: bool = False
    uid: int = 0
    node_label: str = ""
    current: Any = None
    has_current: bool = False
    prompt_value: Any = None
    has_prompt_value: bool = False
    source_available: bool = False
    rows: list = field(default_factory=list)
    children: list[Card] = field(default_factory=list)

    @property
    def panel_json(self) -> str:
        shown = {k: v for k, v in self.panel.items() if k != "children"}
        return json.dumps(shown, ensure_ascii=False)

    @property
    def type(self) -> str:
        return str(self.panel.get("type") or "")

    @property
    def name(self) -> str:
        return field_name(self.panel)

    @property
    def json_values(self) -> bool:
        """Whether option and default values are JSON (numbers, true/false) rather than texts."""
        options = self.panel.get("options")
        if isinstance(options, list) and options:
            return not any(isinstance(option, str) for option in options)
        return _is_number(self.current) or isinstance(self.current, bool)

    @property
    def current_json(self) -> str:
        return json.dumps(self.current, ensure_ascii=False)

    @property
    def prompt_value_json(self) -> str:
        return json.dumps(self.prompt_value, ensure_ascii=False) if self.has_prompt_value else ""

    @property
    def current_text(self) -> str:
        if self.current is None:
            return ""
        return self.current if isinstance(self.current, str) else json.dumps(self.current, ensure_ascii=False)

    @property
    def source(self) -> str:
        options = self.panel.get("options")
        return options if isinstance(options, str) else ""

    @property
    def image_mode(self) -> str:
        options = self.panel.get("options")
        if not isinstance(options, list) or not options:
            return "upload"
        return "gallery" if self.panel.get("upload") is False else "both"

    @property
    def is_long_text(self) -> bool:
        return isinstance(self.current, str) and (len(self.current) > 60 or "\n" in self.current)


@dataclass
class Option:
    value: str
    label: str
    placeholder: str
    is_default: bool


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_json(text: object, default: Any) -> tuple[Any, str]:
    """(value, problem): the parsed JSON, or `default` and why it could not be read."""
    if not isinstance(text, str) or not text.strip():
        return default, ""
    try:
        return json.loads(text), ""
    except json.JSONDecodeError as exc:
        return default, str(exc)


def _inputs(prompt: dict, node_id: object) -> dict:
    node = prompt.get(str(node_id)) if isinstance(prompt, dict) else None
    inputs = node.get("inputs") if isinstance(node, dict) else None
    return inputs if isinstance(inputs, dict) else {}


def node_label(prompt: dict, node_id: object) -> str:
    """ "10 “Your photo” (LoadImage)": how the editor names a node."""
    node = prompt.get(str(node_id)) if isinstance(prompt, dict) else None
    if not isinstance(node, dict):
        return str(node_id)
    class_type = str(node.get("class_type") or "")
    title = str((node.get("_meta") or {}).get("title") or "").strip()
    return f"{node_id} “{title}” ({class_type})" if title and title != class_type else f"{node_id} ({class_type})"


def proposals_for(prompt: dict, object_info: dict) -> list[Proposal]:
    """The fields proposed for `prompt` (nothing when the prompt cannot be read)."""
    if not isinstance(prompt, dict) or not prompt:
        return []
    try:
        return propose_params(prompt, object_info or {})
    except Exception:  # a half-edited prompt must not break the editor
        return []


def build_cards(prompt: dict, params: list, object_info: dict) -> list[Card]:
    """The editor's rows: the params in order (groups as steps holding their own cards, nested as they
    are), then the proposals not used yet."""
    prompt = prompt if isinstance(prompt, dict) else {}
    proposals = {field_name(p.panel): p for p in proposals_for(prompt, object_info)}
    uids = itertools.count()

    def field_card(panel: dict, exposed: bool, proposal: Proposal | None) -> Card:
        inputs = _inputs(prompt, panel.get("id"))
        key = panel.get("key")
        card = Card(
            kind="field",
            panel=panel,
            exposed=exposed,
            reason=proposal.reason if proposal else "",
            recommended=bool(proposal and proposal.recommended),
            uid=next(uids),
            node_label=node_label(prompt, panel.get("id")),
            current=inputs.get(key),
            has_current=isinstance(key, str) and key in inputs,
        )
        if proposal is not None and not exposed and "prompt_value" in proposal.as_dict():
            card.prompt_value, card.has_prompt_value = proposal.prompt_value, True
        node = prompt.get(str(panel.get("id"))) or {}
        card.source_available = bool(
            isinstance(key, str) and combo_options(object_info or {}, node.get("class_type", ""), key)
        )
        card.rows = option_rows(panel, card.prompt_value if card.has_prompt_value else card.current)
        return card

    def walk(panels: object) -> list[Card]:
        cards = []
        for panel in panels if isinstance(panels, list) else []:
            if not isinstance(panel, dict):
                continue
            if panel.get("type") == "group":
                step = Card(kind="step", panel=panel, uid=next(uids))
                step.children = walk(panel.get("children"))
                cards.append(step)
            else:
                cards.append(field_card(panel, True, proposals.pop(field_name(panel), None)))
        return cards

    cards = walk(params)
    for proposal in sorted(proposals.values(), key=lambda p: not p.recommended):
        cards.append(field_card(copy.deepcopy(proposal.panel), False, proposal))
    return cards


def iter_cards(cards: list[Card]) -> Iterator[Card]:
    """Every card, those inside steps included, in display order."""
    for card in cards:
        yield card
        yield from iter_cards(card.children)


def option_rows(panel: dict, current: object) -> list[Option]:
    options = panel.get("options")
    if not isinstance(options, list):
        return []
    labels = panel.get("labels") if isinstance(panel.get("labels"), list) else []
    labels = labels if len(labels) == len(options) else []
    rows = []
    for index, option in enumerate(options):
        placeholder = option_label(str(option)) if panel.get("type") == "image" else str(option)
        label = str(labels[index]) if labels else ""
        rows.append(
            Option(
                value=option if isinstance(option, str) else json.dumps(option),
                label="" if label == placeholder else label,
                placeholder=placeholder,
                is_default=option == current,
            )
        )
    return rows


def other_inputs(prompt: dict, cards: list[Card], object_info: dict) -> list[tuple[str, str]]:
    """(field name, label) of every value of the prompt that no card edits yet (to add as a field).

    Values the backend's node does not declare (the front end's own, such as LoadImage's `upload`) are left out.
    """
    taken = {card.name for card in iter_cards(cards) if card.kind == "field"}
    found = []
    for node_id, node in (prompt or {}).items() if isinstance(prompt, dict) else []:
        definition = (object_info or {}).get(node.get("class_type")) if isinstance(node, dict) else None
        declared = (definition.get("input") or {}) if isinstance(definition, dict) else None
        for key, value in _inputs(prompt, node_id).items():
            name = f"{node_id}.{key}"
            if is_link(value) or name in taken or isinstance(value, (dict, list)):
                continue
            if declared is not None and key not in {
                **(declared.get("required") or {}),
                **(declared.get("optional") or {}),
            }:
                continue
            shown = value if isinstance(value, str) else json.dumps(value)
            if len(shown) > SHORT_VALUE:
                shown = shown[: SHORT_VALUE - 1] + "…"
            found.append((name, f"{node_label(prompt, node_id)} · {key} = {shown}"))
    return found


def render_editor(prompt: object, params: object, object_info: dict, *, problems: list[str] | None = None) -> str:
    """The editor's cards (the part studio.js replaces after a change of structure)."""
    notes = list(problems or [])
    if not isinstance(prompt, dict):
        notes.append(_("The prompt is not a JSON object yet: paste or import a ComfyUI workflow first."))
        prompt = {}
    if not isinstance(params, list):
        notes.append(_("The params JSON below is not a list: fix it and the fields come back."))
        params = []
    cards = build_cards(prompt, params, object_info) if not problems else []
    context = {
        "cards": cards,
        "notes": notes,
        "inputs": other_inputs(prompt, cards, object_info),
        "field_types": [(kind, TYPE_LABELS[kind]) for kind in FIELD_TYPES],
        "has_unused": any(card.kind == "field" and not card.exposed for card in iter_cards(cards)),
    }
    return render_to_string("admin/catalog/workflowtemplate/editor_cards.html", context)


# ---- changes of structure ------------------------------------------------------------------------------


def guess_panel(prompt: dict, object_info: dict, name: str) -> tuple[dict | None, Any]:
    """(a panel for the prompt value `name` = "<node id>.<key>", the value the prompt should then hold)."""
    node_id, _dot, key = name.rpartition(".")
    node = prompt.get(node_id) if isinstance(prompt, dict) else None
    if not isinstance(node, dict) or key not in _inputs(prompt, node_id):
        return None, None
    for proposal in proposals_for(prompt, object_info):
        if field_name(proposal.panel) == name:
            value = proposal.as_dict().get("prompt_value", _inputs(prompt, node_id)[key])
            return copy.deepcopy(proposal.panel), value
    value = _inputs(prompt, node_id)[key]
    class_type = str(node.get("class_type") or "")
    spec = _spec(object_info, class_type, key)
    title = str((node.get("_meta") or {}).get("title") or "").strip()
    panel: dict = {"id": node_id, "key": key, "title": key.replace("_", " ").capitalize()}
    if title and title != class_type:
        panel["title"] = f"{title}: {panel['title']}"
    if key == "image" and class_type in ("LoadImage", "LoadImageMask"):
        panel.update(type="image")
        return panel, value
    if combo_options(object_info or {}, class_type, key):
        panel.update(type="select", options=class_type)
    elif isinstance(value, bool):
        panel.update(type="select", options=[True, False])
    elif _is_number(value):
        panel.update(type="number", **_bounds(spec, value))
    elif isinstance(value, str):
        panel.update(type="string")
    else:
        return None, None
    return panel, value


def _spec(object_info: dict, class_type: str, key: str) -> dict:
    declared = ((object_info or {}).get(class_type) or {}).get("input") or {}
    spec = {**(declared.get("optional") or {}), **(declared.get("required") or {})}.get(key)
    return spec[1] if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict) else {}


def _bounds(spec: dict, value: float) -> dict:
    bounds = {}
    for name in ("min", "max"):
        bound = spec.get(name)
        if _is_number(bound) and abs(bound) < 2**53:
            bounds[name] = bound
    if "min" in bounds and value < bounds["min"]:
        del bounds["min"]
    if "max" in bounds and value > bounds["max"]:
        del bounds["max"]
    step = spec.get("step")
    if _is_number(step) and step > 0 and isinstance(value, int) == isinstance(step, int):
        base = bounds.get("min", 0)
        if abs((value - base) / step - round((value - base) / step)) < 1e-6:
            bounds["step"] = step
    return bounds


def change_type(panel: dict, kind: str, prompt: dict, object_info: dict) -> dict:
    """`panel` as another kind of field, keeping what still applies."""
    if kind not in FIELD_TYPES:
        return panel
    current = _inputs(prompt, panel.get("id")).get(panel.get("key"))
    node = prompt.get(str(panel.get("id"))) or {}
    class_type = str(node.get("class_type") or "")
    changed = {k: v for k, v in panel.items() if k in ("id", "key", "title", "description", "hidden")}
    changed["type"] = kind
    if kind == "number":
        changed.update(_bounds(_spec(object_info, class_type, str(panel.get("key"))), current))
    elif kind == "select":
        options = panel.get("options")
        if isinstance(options, list) and options:
            changed["options"] = options
        elif combo_options(object_info or {}, class_type, str(panel.get("key"))):
            changed["options"] = class_type
        else:
            changed["options"] = [current] if current not in (None, "") else [""]
    elif kind == "image":
        options = panel.get("options")
        if isinstance(options, list) and options and all(isinstance(o, str) and o for o in options):
            changed["options"] = options
    return changed


def apply_operation(prompt: dict, params: list, operation: str, name: str, value: str, object_info: dict) -> None:
    """Change `params` (and `prompt`) in place for one editor operation on the field `name`."""
    if operation == "add":
        if any(field_name(p) == name for p in iter_panels(params)):
            return
        panel, prompt_value = guess_panel(prompt, object_info, name)
        if panel is None:
            return
        waiting = last_empty_step(params)
        (waiting["children"] if waiting is not None else params).append(panel)
        _set_prompt_value(prompt, panel, prompt_value)
        return
    panel = next((p for p in iter_panels(params) if field_name(p) == name), None)
    if panel is None:
        return
    node = prompt.get(str(panel.get("id"))) or {}
    class_type = str(node.get("class_type") or "")
    if operation == "type":
        replaced = change_type(panel, value, prompt, object_info)
        panel.clear()
        panel.update(replaced)
    elif operation == "list-options" and isinstance(panel.get("options"), str):
        current = _inputs(prompt, panel.get("id")).get(panel.get("key"))
        listed = combo_options(object_info or {}, panel["options"], str(panel.get("key")))
        if current not in (None, "") and current not in listed:
            listed = [current, *listed]
        panel["options"] = listed or ([current] if current not in (None, "") else [""])
        panel.pop("labels", None)
    elif operation == "use-source" and class_type:
        panel["options"] = class_type
        panel.pop("labels", None)


def last_empty_step(params: list) -> dict | None:
    """The step the operator added last and has not filled yet: a new field goes into it."""
    found = None
    for panel in params if isinstance(params, list) else []:
        if isinstance(panel, dict) and panel.get("type") == "group" and isinstance(panel.get("children"), list):
            found = panel if not panel["children"] else (last_empty_step(panel["children"]) or found)
    return found


def _set_prompt_value(prompt: dict, panel: dict, value: Any) -> None:
    inputs = _inputs(prompt, panel.get("id"))
    if inputs and panel.get("key") in inputs:
        inputs[panel["key"]] = value


# ---- the form widget ------------------------------------------------------------------------------------


class ParamsEditorWidget(forms.Textarea):
    """The params field as the editor (cards beside a live preview) over the JSON text box it keeps in sync.

    The form sets `prompt`, `object_info` and the URLs before rendering (see the template admin).
    """

    template_name = "admin/catalog/workflowtemplate/params_editor.html"

    class Media:
        css = {"all": ["css/studio.css"]}
        js = ["vendor/sortablejs/Sortable.min.js", "js/studio.js"]

    def __init__(self, attrs=None) -> None:
        super().__init__({"rows": 16, "cols": 80, "spellcheck": "false", "data-params-json": "", **(attrs or {})})
        self.prompt: object = {}
        self.object_info: dict = {}
        self.urls: dict[str, str] = {}
        self.problems: list[str] = []

    def format_value(self, value):
        if isinstance(value, (list, dict)):
            return json.dumps(value, ensure_ascii=False, indent=2)
        text = super().format_value(value)
        parsed, problem = parse_json(text, None)
        if not problem and isinstance(parsed, list):
            return json.dumps(parsed, ensure_ascii=False, indent=2)
        return text

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        params, problem = parse_json(context["widget"]["value"], [])
        context["editor_html"] = render_editor(
            self.prompt, params, self.object_info, problems=[problem] if problem else self.problems
        )
        context["urls"] = self.urls
        context["languages"] = [(code.lower(), label) for code, label in settings.LANGUAGES]
        context["content_language"] = content_language()
        return context
