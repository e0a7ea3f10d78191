"""Prompt validation with ComfyUI's error types, messages and JSON shape.

It walks the graph the way ComfyUI 0.3.75 does: from each output node upstream, remembering every node
it checked; a broken link (unknown node, bad slot) is an exception that the downstream node reports on
the upstream one; every failed output is added to `dependent_outputs` of every failed node checked so far.
"""

from __future__ import annotations

import json
import traceback
from functools import cache
from importlib import resources
from pathlib import Path

from .nodes import REAL_NODES, resolve_input

# ComfyUI converts constant inputs of these types before range checks (and keeps the converted value).
CONVERSIONS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
# Inputs checked by a node's own VALIDATE_INPUTS, which replaces the range and list checks.
CUSTOM_VALIDATED = {"LoadImage": ("image",), "LoadImageMask": ("image",)}
# Longer COMBO lists are not echoed back in a value_not_in_list error.
MAX_LISTED_CHOICES = 20


@cache
def recorded_object_info() -> dict:
    """The node specs recorded from ComfyUI 0.3.75, shipped as package data."""
    return json.loads(resources.files("comfyweb.emulator").joinpath("object_info.json").read_text(encoding="utf-8"))


def input_files(input_dir: Path) -> list[str]:
    return sorted(
        str(p.relative_to(input_dir)).replace("\\", "/")
        for p in input_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )


def object_info(input_dir: Path) -> dict:
    """The specs with LoadImage's file list taken from the input folder, as ComfyUI does."""
    info = dict(recorded_object_info())
    files = input_files(input_dir)
    for name in ("LoadImage", "LoadImageMask"):
        spec = json.loads(json.dumps(info[name]))
        spec["input"]["required"]["image"][0] = files
        info[name] = spec
    return info


def error(kind: str, message: str, details: str = "", extra: dict | None = None) -> dict:
    return {"type": kind, "message": message, "details": details, "extra_info": extra or {}}


def combo_options(config: list) -> list | None:
    if isinstance(config[0], list):
        return config[0]
    return None  # ComfyUI does not check the options of the newer ["COMBO", {"options": [...]}] form


class PromptRejected(Exception):
    """The whole prompt is refused (400) with ComfyUI's body."""

    def __init__(self, body: dict) -> None:
        super().__init__(body["error"]["message"])
        self.body = body


def validate_prompt(
    prompt: dict, *, strict: bool, input_dir: Path, targets: list | None = None
) -> tuple[list[str], dict]:
    """Returns (output node ids to execute, node_errors); raises PromptRejected on a 400.

    Like ComfyUI, outputs that validate still run when others fail (200 with node_errors). `targets`
    is ComfyUI's `partial_execution_targets`: only these output nodes run.
    """
    info = recorded_object_info()
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            message = "Cannot execute because a node is missing the class_type property."
            raise PromptRejected(
                {"error": error("invalid_prompt", message, f"Node ID '#{node_id}'"), "node_errors": {}}
            )
        if node["class_type"] not in info and strict:
            message = f"Cannot execute because node {node['class_type']} does not exist."
            raise PromptRejected(
                {"error": error("invalid_prompt", message, f"Node ID '#{node_id}'"), "node_errors": {}}
            )
    outputs = [nid for nid, node in prompt.items() if info.get(node["class_type"], {}).get("output_node")]
    if not strict:
        outputs += [nid for nid, node in prompt.items() if node["class_type"] not in info and not _is_used(prompt, nid)]
    if targets is not None:
        outputs = [nid for nid in outputs if nid in targets]
    if not outputs:
        raise PromptRejected({"error": error("prompt_no_outputs", "Prompt has no outputs"), "node_errors": {}})
    validator = _Validator(prompt, info, input_dir)
    good: list[str] = []
    node_errors: dict[str, dict] = {}
    failed_outputs: list[list[dict]] = []
    for output in sorted(outputs, key=_sort_key):
        try:
            valid, reasons = validator.check(output)
        except Exception as exc:
            valid = False
            reasons = [
                error(
                    "exception_during_validation",
                    "Exception when validating node",
                    str(exc),
                    {"exception_type": _type_name(exc), "traceback": traceback.format_tb(exc.__traceback__)},
                )
            ]
            validator.checked[output] = (False, reasons)
        if valid:
            good.append(output)
            continue
        failed_outputs.append(reasons)
        # As in ComfyUI: every failed node checked so far (not only this output's upstream) depends on it.
        for node_id, (node_valid, node_reasons) in validator.checked.items():
            if node_valid or not node_reasons:
                continue
            entry = node_errors.setdefault(
                node_id, {"errors": node_reasons, "dependent_outputs": [], "class_type": prompt[node_id]["class_type"]}
            )
            entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(
            f"{reason['message']}: {reason['details']}" for reasons in failed_outputs for reason in reasons
        )
        raise PromptRejected(
            {
                "error": error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details),
                "node_errors": node_errors,
            }
        )
    return good, node_errors


def _sort_key(node_id: str) -> tuple:
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _is_used(prompt: dict, node_id: str) -> bool:
    return any(
        isinstance(v, list) and len(v) == 2 and str(v[0]) == node_id
        for node in prompt.values()
        for v in (node.get("inputs") or {}).values()
    )


def _input_specs(spec: dict) -> dict[str, tuple[str, list]]:
    specs = {}
    for section in ("required", "optional"):
        for name, config in spec.get("input", {}).get(section, {}).items():
            specs.setdefault(name, (section, config))
    return specs


def _types_match(received: object, expected: object) -> bool:
    """ComfyUI's link type check: equal, `*` on either side, or overlapping comma-separated unions."""
    if received == expected or "*" in (received, expected):
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    return bool({t.strip() for t in received.split(",")} & {t.strip() for t in expected.split(",")})


class _Validator:
    """Checks nodes once each; `checked` maps node id to (valid, its own errors)."""

    def __init__(self, prompt: dict, info: dict, input_dir: Path) -> None:
        self.prompt = prompt
        self.info = info
        self.input_dir = input_dir
        self.checked: dict[str, tuple[bool, list[dict]]] = {}

    def check(self, node_id: str) -> tuple[bool, list[dict]]:
        """Validates one node and, through its links, everything upstream; raises on a broken link."""
        if node_id in self.checked:
            return self.checked[node_id]
        node = self.prompt[node_id]
        inputs = node["inputs"]
        class_type = node["class_type"]
        spec = self.info.get(class_type)
        errors: list[dict] = []
        valid = True
        custom = CUSTOM_VALIDATED.get(class_type, ())
        specs = _input_specs(spec) if spec else {name: ("optional", ["*"]) for name in inputs}
        for name, (section, config) in specs.items():
            if name not in inputs:
                if section == "required":
                    errors.append(
                        error("required_input_missing", "Required input is missing", name, {"input_name": name})
                    )
                continue
            input_type = config[0]
            config_info = [input_type, config[1] if len(config) > 1 and isinstance(config[1], dict) else {}]
            value = inputs[name]
            if isinstance(value, list):
                problem, upstream_valid = self._check_link(name, value, input_type, config_info)
                if problem:
                    errors.append(problem)
                valid = valid and upstream_valid
                continue
            if spec is None:
                continue
            problem = self._check_constant(class_type, inputs, name, input_type, config_info, custom)
            if problem:
                errors.append(problem)
        for name in custom:
            if name in inputs and not isinstance(inputs[name], list):
                problem = _custom_check(class_type, name, inputs[name], self.input_dir)
                if problem:
                    errors.append(problem)
        result = (not errors and valid, errors)
        self.checked[node_id] = result
        return result

    def _check_link(self, name: str, value: list, input_type: object, config_info: list) -> tuple[dict | None, bool]:
        """(error of this input, whether the upstream node is valid)."""
        if len(value) != 2:
            message = "Bad linked input, must be a length-2 list of [node_id, slot_index]"
            extra = {"input_name": name, "input_config": config_info, "received_value": value}
            return error("bad_linked_input", message, name, extra), True
        source, slot = value
        source_node = self.prompt[source]  # KeyError, reported by the node downstream (or the output itself)
        source_spec = self.info.get(source_node["class_type"])
        received = tuple(source_spec.get("output", ()))[slot] if source_spec else "*"
        if not _types_match(received, input_type):
            details = f"{name}, received_type({received}) mismatch input_type({input_type})"
            extra = {"input_name": name, "input_config": config_info, "received_type": received, "linked_node": value}
            return error("return_type_mismatch", "Return type mismatch between linked nodes", details, extra), True
        try:
            upstream_valid, _ = self.check(source)
        except Exception as exc:
            extra = {
                "input_name": name,
                "input_config": config_info,
                "exception_message": str(exc),
                "exception_type": _type_name(exc),
                "traceback": traceback.format_tb(exc.__traceback__),
                "linked_node": value,
            }
            reasons = [
                error("exception_during_inner_validation", "Exception when validating inner node", str(exc), extra)
            ]
            self.checked[source] = (False, reasons)
            return None, False
        return None, upstream_valid

    def _check_constant(
        self, class_type: str, inputs: dict, name: str, input_type: object, config_info: list, custom: tuple
    ) -> dict | None:
        """Converts the value like ComfyUI (in place), then checks min, max and COMBO choices."""
        value = inputs[name]
        if isinstance(value, dict) and "__value__" in value:
            value = inputs[name] = value["__value__"]
        convert = CONVERSIONS.get(input_type) if isinstance(input_type, str) else None
        if convert is not None:
            try:
                value = inputs[name] = convert(value)
            except Exception as exc:
                extra = {"input_name": name, "input_config": config_info, "received_value": value,
                         "exception_message": str(exc)}  # fmt: skip
                message = f"Failed to convert an input value to a {input_type} value"
                return error("invalid_input_type", message, f"{name}, {value}, {exc}", extra)
        if name in custom:
            return None
        options = config_info[1]
        extra = {"input_name": name, "input_config": config_info, "received_value": value}
        if "min" in options and value < options["min"]:
            return error("value_smaller_than_min", f"Value {value} smaller than min of {options['min']}", name, extra)
        if "max" in options and value > options["max"]:
            return error("value_bigger_than_max", f"Value {value} bigger than max of {options['max']}", name, extra)
        # The emulator knows the true choices only of the nodes it runs (model file lists differ per server).
        if isinstance(input_type, list) and class_type in REAL_NODES and value not in input_type:
            if len(input_type) > MAX_LISTED_CHOICES:
                listed, extra["input_config"] = f"(list of length {len(input_type)})", None
            else:
                listed = str(input_type)
            return error("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listed}", extra)
        return None


def _custom_check(class_type: str, name: str, value: object, input_dir: Path) -> dict | None:
    """LoadImage's and LoadImageMask's own check: the file must be in the input folder."""
    try:
        exists = isinstance(value, str) and resolve_input(input_dir, value).is_file()
    except Exception:
        exists = False
    if exists:
        return None
    details = f"{name} - Invalid image file: {value}"
    return error("custom_validation_failed", "Custom validation failed for node", details, {"input_name": name})
