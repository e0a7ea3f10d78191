"""The template file format as a JSON Schema (template.schema.json, documented in docs/templates.md).

`file_problems(data)` checks a whole `workflows/*.json` file and names each problem by its path in the
file (`[0].params[2].min: '0' is not of type 'number'`); `loadworkflows` and the import run it before
anything else. `panel_shape_problems(params)` is what `params.validate_template` takes from the schema:
the shape of panels beyond the rules it explains itself (unknown keys such as a mistyped "tittle", a
title that is not text, `hidden` that is not true/false).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match

SCHEMA_PATH = Path(__file__).with_name("template.schema.json")
# Keys whose problems params.validate_template explains in its own words; the schema reports the rest.
KEYS_CHECKED_BY_RULES = {"type", "id", "key", "options", "labels", "min", "max", "step", "children"}


@cache
def template_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator(definition: str) -> Draft202012Validator:
    """A validator for one definition of the schema (a template, a panel)."""
    schema = template_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]})


def json_path(parts) -> str:
    """["params", 2, "min"] → "params[2].min"."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _leaf(error: SchemaError) -> SchemaError:
    """For "not valid under any of the given schemas", the alternative that went furthest."""
    while error.context:
        better = best_match(error.context)
        if better is None or better is error:
            break
        error = better
    return error


def _messages(errors, prefix: list) -> list[str]:
    found = []
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        leaf = _leaf(error)
        where = json_path([*prefix, *leaf.absolute_path]) or "(the template)"
        found.append(f"{where}: {leaf.message}")
    return found


def file_problems(data: object) -> list[str]:
    """Every way `data` (a parsed workflows file) breaks the schema, each with its path in the file."""
    validator = _validator("template")
    if isinstance(data, list):
        problems = []
        for index, entry in enumerate(data):
            problems.extend(_messages(validator.iter_errors(entry), [index]))
        return problems
    if isinstance(data, dict):
        return _messages(validator.iter_errors(data), [])
    return ["(the file): a workflows file holds a JSON list of templates (or one template object)."]


def panel_shape_problems(params: list) -> list[tuple[list, str]]:
    """(path inside params, message) for shape problems the named rules of validate_template do not cover."""
    if not isinstance(params, list):
        return []
    validator = _validator("panel")
    found = []
    for index, panel in enumerate(params):
        if not isinstance(panel, dict):
            continue
        for error in validator.iter_errors(panel):
            for leaf in _flatten(error):
                path = list(leaf.absolute_path)
                last = next((p for p in reversed(path) if isinstance(p, str)), None)
                if leaf.validator == "additionalProperties" or (last and last not in KEYS_CHECKED_BY_RULES):
                    if leaf.validator in ("required", "if", "then", "else", "allOf"):
                        continue
                    found.append(([index, *path], leaf.message))
    return found


def _flatten(error: SchemaError):
    if error.context:
        for child in error.context:
            yield from _flatten(child)
    else:
        yield error
