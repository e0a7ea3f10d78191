"""Prompt validation with ComfyUI's error types, messages and JSON shape."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

from .nodes import REAL_NODES, resolve_input

NUMERIC = {"INT": int, "FLOAT": float}


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


def validate_prompt(prompt: dict, *, strict: bool, input_dir: Path) -> tuple[list[str], dict]:
    """Returns (output node ids to execute, node_errors); raises PromptRejected on a 400.

    Like ComfyUI, outputs that validate still run when others fail (200 with node_errors).
    """
    info = recorded_object_info()
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            raise PromptRejected(
                {
                    "error": error(
                        "invalid_prompt",
                        "Cannot execute because a node is missing the class_type property.",
                        f"Node ID '#{node_id}'",
                    ),
                    "node_errors": {},
                }
            )
        if node["class_type"] not in info and strict:
            raise PromptRejected(
                {
                    "error": error(
                        "invalid_prompt",
                        f"Cannot execute because node {node['class_type']} does not exist.",
                        f"Node ID '#{node_id}'",
                    ),
                    "node_errors": {},
                }
            )
    outputs = [nid for nid, node in prompt.items() if info.get(node["class_type"], {}).get("output_node")]
    if not strict:
        outputs += [nid for nid, node in prompt.items() if node["class_type"] not in info and not _is_used(prompt, nid)]
    if not outputs:
        raise PromptRejected({"error": error("prompt_no_outputs", "Prompt has no outputs"), "node_errors": {}})
    checked: dict[str, list] = {}
    good, node_errors = [], {}
    for output in sorted(outputs, key=_sort_key):
        failed = _validate_node(prompt, output, info, input_dir, checked, set())
        if failed:
            for node_id in failed:
                entry = node_errors.setdefault(
                    node_id,
                    {"errors": checked[node_id], "dependent_outputs": [], "class_type": prompt[node_id]["class_type"]},
                )
                entry["dependent_outputs"].append(output)
        else:
            good.append(output)
    if not good:
        raise PromptRejected(
            {
                "error": error("prompt_outputs_failed_validation", "Prompt outputs failed validation"),
                "node_errors": node_errors,
            }
        )
    return good, node_errors


def _sort_key(node_id: str) -> tuple:
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


def _is_used(prompt: dict, node_id: str) -> bool:
    return any(
        isinstance(v, list) and len(v) == 2 and str(v[0]) == node_id
        for node in prompt.values()
        for v in node.get("inputs", {}).values()
    )


def _input_specs(spec: dict) -> dict:
    specs = {}
    for section in ("required", "optional"):
        for name, config in spec.get("input", {}).get(section, {}).items():
            specs[name] = (section, config)
    return specs


def _validate_node(prompt: dict, node_id: str, info: dict, input_dir: Path, checked: dict, seen: set) -> list[str]:
    """Returns the ids of nodes with errors in this node's upstream graph (itself included)."""
    if node_id in checked:
        return [node_id] if checked[node_id] else _upstream_failures(prompt, node_id, checked)
    if node_id in seen:
        return []
    seen.add(node_id)
    node = prompt[node_id]
    class_type = node["class_type"]
    spec = info.get(class_type)
    inputs = node.get("inputs", {}) if isinstance(node.get("inputs"), dict) else {}
    errors: list[dict] = []
    failed_upstream: list[str] = []
    real = class_type in REAL_NODES
    specs = _input_specs(spec) if spec else {}
    for name, (section, _config) in specs.items():
        if name not in inputs:
            if section == "required":
                errors.append(error("required_input_missing", "Required input is missing", name, {"input_name": name}))
            continue
    for name, value in inputs.items():
        section, config = specs.get(name, (None, None))
        if isinstance(value, list):
            if len(value) != 2:
                errors.append(
                    error(
                        "bad_linked_input",
                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        name,
                        {"input_name": name, "input_config": config, "received_value": value},
                    )
                )
                continue
            source = str(value[0])
            if source not in prompt:
                errors.append(
                    error(
                        "exception_during_inner_validation",
                        "Exception when validating inner node",
                        f"'{source}'",
                        {
                            "input_name": name,
                            "input_config": config,
                            "exception_message": f"'{source}'",
                            "exception_type": "KeyError",
                            "traceback": [],
                            "linked_node": value,
                        },
                    )
                )
                continue
            source_spec = info.get(prompt[source]["class_type"])
            if config and source_spec and isinstance(value[1], int) and isinstance(config[0], str):
                outputs = source_spec.get("output", [])
                received = outputs[value[1]] if value[1] < len(outputs) else None
                if received and config[0] not in ("*", received) and received != "*":
                    errors.append(
                        error(
                            "return_type_mismatch",
                            "Return type mismatch between linked nodes",
                            f"{name}, received_type({received}) mismatch input_type({config[0]})",
                            {
                                "input_name": name,
                                "input_config": config,
                                "received_type": received,
                                "linked_node": value,
                            },
                        )
                    )
            failed_upstream += _validate_node(prompt, source, info, input_dir, checked, seen)
            continue
        if config is None:
            continue
        problem = _check_value(name, value, config, real, class_type, input_dir)
        if problem:
            errors.append(problem)
        elif isinstance(config[0], str) and config[0] in NUMERIC:
            inputs[name] = NUMERIC[config[0]](value)
    checked[node_id] = errors
    ids = ([node_id] if errors else []) + failed_upstream
    return list(dict.fromkeys(ids))


def _upstream_failures(prompt: dict, node_id: str, checked: dict) -> list[str]:
    found: list[str] = []
    stack, visited = [node_id], set()
    while stack:
        current = stack.pop()
        if current in visited or current not in prompt:
            continue
        visited.add(current)
        if checked.get(current):
            found.append(current)
        stack += [str(v[0]) for v in prompt[current].get("inputs", {}).values() if isinstance(v, list) and len(v) == 2]
    return found


def _check_value(name: str, value: object, config: list, real: bool, class_type: str, input_dir: Path) -> dict | None:
    kind = config[0]
    options = config[1] if len(config) > 1 and isinstance(config[1], dict) else {}
    if isinstance(kind, str) and kind in NUMERIC:
        try:
            if isinstance(value, bool) or value is None:
                raise ValueError(f"invalid literal for {kind.lower()}() with base 10: {value!r}")
            number = NUMERIC[kind](value)
        except (TypeError, ValueError) as exc:
            extra = {"input_name": name, "input_config": config, "received_value": value, "exception_message": str(exc)}
            message = f"Failed to convert an input value to a {kind} value"
            return error("invalid_input_type", message, f"{name}, {value}, {exc}", extra)
        if "min" in options and number < options["min"]:
            return error("value_smaller_than_min", f"Value {number} smaller than min of {options['min']}", name,
                         {"input_name": name, "input_config": config, "received_value": number})  # fmt: skip
        if "max" in options and number > options["max"]:
            return error("value_bigger_than_max", f"Value {number} bigger than max of {options['max']}", name,
                         {"input_name": name, "input_config": config, "received_value": number})  # fmt: skip
        return None
    if class_type in ("LoadImage", "LoadImageMask") and name == "image":
        try:
            exists = isinstance(value, str) and resolve_input(input_dir, value).is_file()
        except Exception:
            exists = False
        if not exists:
            return error("custom_validation_failed", "Custom validation failed for node",
                         f"image - Invalid image file: {value}", {"input_name": name})  # fmt: skip
        return None
    choices = combo_options(config)
    if choices is not None and real and value not in choices:
        shown = json.dumps(choices).replace('"', "'")
        return error("value_not_in_list", "Value not in list", f"{name}: {value!r} not in {shown.replace(', ', ', ')}",
                     {"input_name": name, "input_config": config, "received_value": value})  # fmt: skip
    return None
