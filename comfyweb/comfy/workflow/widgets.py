"""One widget of a node as the front end builds it, with the value setter, getter and change callback
that decide what ends up in the prompt (image-upload annotations, INT steps, FLOAT rounding)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from comfyweb.comfy.workflow.js_values import (
    as_int_if_integral,
    js_mod,
    js_number,
    js_round,
    js_string,
    js_to_fixed,
    js_truthy,
)


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
            self.value = as_int_if_integral(rounded)
        elif self.input_type == "FLOAT" and isinstance(value, (int, float)) and not isinstance(value, bool):
            round_to = float_round(self.spec)
            if round_to:
                rounded = js_to_fixed(js_round(value / round_to) * round_to, float_precision(self.spec))
                lo = self.spec.get("min")
                hi = self.spec.get("max")
                lo = 0 if lo is None else lo
                hi = 2048 if hi is None else hi
                self.value = as_int_if_integral(min(max(rounded, lo), hi))


def _annotation(path: str, folder: str) -> str:
    if re.search(r"\[(input|output|temp)\]", path, re.IGNORECASE) or folder == "input":
        return ""
    return f" [{folder}]"


def float_precision(spec: dict) -> int:
    """The FLOAT widget's precision: the decimals of its step (0.5 when the input names none)."""
    step = spec.get("step")
    step = 0.5 if step is None else step
    if not isinstance(step, (int, float)) or step <= 0:
        return 0
    return max(0, -math.floor(math.log10(step)))


def float_round(spec: dict) -> float | None:
    """The FLOAT widget's `round` option: 10**-precision unless the input sets its own."""
    precision = float_precision(spec)
    if precision and not spec.get("round"):
        return 10.0**-precision
    round_to = spec.get("round")
    return round_to if isinstance(round_to, (int, float)) and not isinstance(round_to, bool) and round_to else None
