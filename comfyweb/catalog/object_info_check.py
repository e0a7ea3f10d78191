"""Checking a template against what one GPU backend offers (its `/object_info`), the way this product runs it.

Each finding names the node by id, title and class, and says what to do:

* node classes the backend lacks (a custom node not installed) and values its lists do not offer
  (a model that is not installed, a misspelt sampler) — `missing_node` and `missing_model`;
* values outside the input's bounds, except a seed of -1, which this product replaces with a random seed
  before the prompt is sent (catalog.substitution);
* pictures: a `LoadImage` whose file is not in the backend's input folder is flagged unless visitors give
  the picture (an image field) — and then only if the field's default is such a file, because a visitor
  who skips the field would fall back to it; URLs, data URLs and this site's paths are fetched at run time;
* every value a visitor may choose: each select option (or, for options named by a node class, that the
  backend has that list at all) and the bounds of each number field.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from comfyweb.catalog.params import iter_panels
from comfyweb.comfy.prompt import SEED_KEYS, is_link

MODEL_SUFFIXES = ("_name", "_model", "model", "ckpt", "lora", "vae", "clip")


@dataclass(frozen=True)
class Finding:
    """One thing a backend lacks to run a template."""

    kind: str  # missing_node, missing_model, bad_value, missing_input, image_file, choice
    node_id: str
    message: str

    def __str__(self) -> str:
        return self.message


def node_label(node_id: str, node: dict) -> str:
    """`12 “Your photo” (LoadImage)`; the title only when the node has its own."""
    class_type = node.get("class_type") if isinstance(node, dict) else None
    title = ((node.get("_meta") or {}).get("title") or "").strip() if isinstance(node, dict) else ""
    if title and title != class_type:
        return f"{node_id} “{title}” ({class_type})"
    return f"{node_id} ({class_type})"


def declared_inputs(spec: dict) -> dict:
    inputs = spec.get("input", {}) if isinstance(spec, dict) else {}
    return {**(inputs.get("required") or {}), **(inputs.get("optional") or {})}


def _combo(declared: list) -> tuple[list | None, dict]:
    """(the values of a COMBO input or None, its options), for both /object_info list forms."""
    kind = declared[0] if declared else None
    options = declared[1] if len(declared) > 1 and isinstance(declared[1], dict) else {}
    if kind == "COMBO":
        return list(options.get("options", [])), options
    if isinstance(kind, list):
        return kind, options
    return None, options


def is_backend_file(value: object) -> bool:
    """A file name for the backend's input folder, not a URL, a data URL or a path of this site."""
    return (
        isinstance(value, str) and bool(value.strip()) and not value.startswith(("http://", "https://", "data:", "/"))
    )


def find_problems(prompt: dict, object_info: dict, params: list | None = None) -> list[Finding]:
    """Everything one backend lacks to run `prompt` with the choices `params` offers visitors."""
    findings: list[Finding] = []
    exposed_images = (
        None
        if params is None
        else {(str(p.get("id")), p.get("key")) for p in iter_panels(params) if p.get("type") == "image"}
    )
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        node_id = str(node_id)
        where = node_label(node_id, node)
        spec = object_info.get(node.get("class_type"))
        if spec is None:
            findings.append(
                Finding(
                    "missing_node",
                    node_id,
                    _("%(where)s: this backend has no such node type (missing custom node?).") % {"where": where},
                )
            )
            continue
        declared = declared_inputs(spec)
        inputs = node.get("inputs", {}) if isinstance(node.get("inputs"), dict) else {}
        for key in (spec.get("input") or {}).get("required") or {}:
            if key not in inputs:
                findings.append(
                    Finding(
                        "missing_input",
                        node_id,
                        _("%(where)s: this backend requires an input %(key)s the prompt does not set.")
                        % {"where": where, "key": key},
                    )
                )
        for key, value in inputs.items():
            if is_link(value) or key not in declared:
                continue
            values, options = _combo(declared[key])
            if values is not None and options.get("image_upload"):
                exposed = None if exposed_images is None else (node_id, key) in exposed_images
                findings.extend(_check_picture(where, node_id, key, value, values, exposed))
                continue
            findings.extend(_check_value(where, node_id, key, value, declared[key]))
    findings.extend(_check_choices(prompt, object_info, params or []))
    return findings


def check_against_object_info(prompt: dict, object_info: dict, params: list | None = None) -> list[str]:
    """What a backend lacks to run `prompt` (and every choice of `params`), as messages."""
    return [finding.message for finding in find_problems(prompt, object_info, params)]


def _check_picture(
    where: str, node_id: str, key: str, value: object, files: list, exposed: bool | None
) -> list[Finding]:
    """A picture input; `exposed` says whether visitors give it (None: the prompt is checked without params)."""
    if not is_backend_file(value) or value in files:
        if exposed is False and isinstance(value, str) and not value.strip():
            return [
                Finding(
                    "image_file",
                    node_id,
                    _("%(where)s: no picture is set and visitors are not asked for one; add an image field.")
                    % {"where": where},
                )
            ]
        return []
    if exposed is None:
        message = _("%(where)s: %(key)s “%(file)s” is not in this backend's input folder.")
    elif exposed:
        message = _(
            "%(where)s: when a visitor gives no picture, the field falls back to “%(file)s”, which is not in "
            "this backend's input folder; empty the prompt's %(key)s so the picture is required, or copy the "
            "file to the backend."
        )
    else:
        message = _(
            "%(where)s: %(key)s “%(file)s” is not in this backend's input folder and visitors are not asked "
            "for a picture; add an image field for it, or copy the file to the backend."
        )
    return [Finding("image_file", node_id, message % {"where": where, "key": key, "file": value})]


def _check_value(
    where: str, node_id: str, key: str, value: object, declared: list, offered_by: str = ""
) -> list[Finding]:
    values, options = _combo(declared)
    suffix = f" ({offered_by})" if offered_by else ""
    if values is not None:
        if value in values:
            return []
        kind = "missing_model" if key.lower().endswith(MODEL_SUFFIXES) else "bad_value"
        return [
            Finding(
                kind if not offered_by else "choice",
                node_id,
                _("%(where)s: %(key)s=%(value)r is not offered by this backend (missing model or bad name?).")
                % {"where": where, "key": key, "value": value}
                + suffix,
            )
        ]
    kind = declared[0] if declared else None
    if kind in ("INT", "FLOAT") and isinstance(value, (int, float)) and not isinstance(value, bool):
        if key in SEED_KEYS and value == -1:
            return []  # -1 means "a random seed": catalog.substitution draws one before the prompt is sent
        lo, hi = options.get("min"), options.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return [
                Finding(
                    "bad_value" if not offered_by else "choice",
                    node_id,
                    _("%(where)s: %(key)s=%(value)s is outside %(lo)s…%(hi)s.")
                    % {"where": where, "key": key, "value": value, "lo": lo, "hi": hi}
                    + suffix,
                )
            ]
    return []


def _check_choices(prompt: dict, object_info: dict, params: list) -> list[Finding]:
    findings = []
    offered_by = _("a choice of the form")
    for panel in iter_panels(params):
        node_id = str(panel.get("id"))
        node = prompt.get(node_id)
        if not isinstance(node, dict):
            continue
        spec = object_info.get(node.get("class_type"))
        key = panel.get("key")
        declared = declared_inputs(spec).get(key) if spec else None
        if not declared:
            continue
        where = node_label(node_id, node)
        values, options = _combo(declared)
        if values is not None and options.get("image_upload"):
            continue
        kind, choices = panel.get("type"), panel.get("options")
        if kind == "select" and isinstance(choices, str):
            source = declared_inputs(object_info.get(choices) or {}).get(key)
            listed, _options = _combo(source) if source else (None, {})
            if listed == []:
                findings.append(
                    Finding(
                        "choice",
                        node_id,
                        _(
                            "%(where)s: the choices of %(key)s come from %(source)s.%(key)s, and this backend "
                            "has none installed."
                        )
                        % {"where": where, "key": key, "source": choices},
                    )
                )
            elif listed is None:
                findings.append(
                    Finding(
                        "choice",
                        node_id,
                        _(
                            "%(where)s: the choices of %(key)s come from %(source)s.%(key)s, which this backend "
                            "does not list (missing node, or no such list)."
                        )
                        % {"where": where, "key": key, "source": choices},
                    )
                )
            continue
        candidates: list = []
        if kind == "select" and isinstance(choices, list):
            candidates = choices
        elif kind == "number":
            candidates = [panel[b] for b in ("min", "max") if isinstance(panel.get(b), (int, float))]
        current = node.get("inputs", {}).get(key)
        for value in candidates:
            if value != current:
                findings.extend(_check_value(where, node_id, key, value, declared, offered_by))
    return findings
