"""The template form as visitors see it: texts in their language, fields laid out as numbered steps."""

from __future__ import annotations

import copy
import re

from comfyweb.catalog.forms import UPLOAD_SUFFIX
from comfyweb.catalog.params import field_name, iter_panels

# fc-comfyui templates number their panels in the titles ("STEP 2 - 选择角色"); the page numbers steps itself.
STEP_MARKER = re.compile(r"^\s*(?:step\s*\d+|第\s*[0-9一二三四五六七八九十]+\s*步)\s*[-–—:：.、·|/]?\s*", re.IGNORECASE)
OWN_STEP = "_own_step"  # set on a loose panel whose title carried a step marker: it is a step of its own


def strip_step_marker(title: object) -> str:
    """A panel title without its "STEP n -" / "第n步" prefix (the title itself when nothing else is left)."""
    text = str(title or "")
    stripped = STEP_MARKER.sub("", text, count=1).strip()
    return stripped or text


def visitor_params(template) -> list:
    """The template's params in the visitor's language, step markers taken out of the titles."""
    params = copy.deepcopy(template.i18n.params if hasattr(template, "i18n") else template.params or [])
    for panel in params if isinstance(params, list) else []:
        if not isinstance(panel, dict):
            continue
        if panel.get("type") != "group" and STEP_MARKER.match(str(panel.get("title") or "")):
            panel[OWN_STEP] = True
        panel["title"] = strip_step_marker(panel.get("title"))
        for child in iter_panels(panel.get("children") or []) if panel.get("type") == "group" else []:
            child["title"] = strip_step_marker(child.get("title"))
    return params


def _inner_groups(panels: list, titles: tuple[str, ...], found: dict[str, tuple[str, ...]]) -> None:
    """Field name -> the titles of the groups nested inside its step that hold it (outermost first)."""
    for panel in panels:
        if not isinstance(panel, dict):
            continue
        if panel.get("type") == "group":
            title = strip_step_marker(panel.get("title"))
            _inner_groups(panel.get("children") or [], (*titles, title), found)
        else:
            found[field_name(panel)] = titles


def group_fields(form, params: list) -> list[dict]:
    """The visible fields as steps, in order.

    Each `group` panel is one step titled by the group; a group inside it is a part of that step with
    its own heading (`sections`); a loose panel whose title was a step ("STEP 2 - 选择角色") is a step of
    its own; other loose panels in a row share one step. A gallery's "upload your own" field stays in
    its gallery's step.
    """
    step_of: dict[str, tuple[str, str]] = {}  # field name -> (step key, label)
    section_of: dict[str, tuple[str, ...]] = {}  # field name -> the nested groups holding it within its step
    for index, panel in enumerate(params or []):
        if not isinstance(panel, dict):
            continue
        if panel.get("type") == "group":
            for child in iter_panels(panel.get("children") or []):
                step_of[field_name(child)] = (f"group-{index}", str(panel.get("title") or ""))
            _inner_groups(panel.get("children") or [], (), section_of)
        elif panel.get(OWN_STEP):
            step_of[field_name(panel)] = (f"panel-{index}", str(panel.get("title") or ""))
    steps: list[dict] = []
    for bound in form.visible_fields():
        name = bound.name.removesuffix(UPLOAD_SUFFIX)
        key, label = step_of.get(name, (None, ""))
        if not (steps and steps[-1]["key"] == key):
            steps.append({"key": key, "group": label if key else None, "label": label, "fields": [], "sections": []})
        step = steps[-1]
        step["fields"].append(bound)
        inner = section_of.get(name, ())
        if not (step["sections"] and step["sections"][-1]["path"] == inner):
            step["sections"].append({"path": inner, "label": " · ".join(inner), "fields": []})
        step["sections"][-1]["fields"].append(bound)
    return steps
