"""The front end's applyTextReplacements: `%Node.widget%` and `%date:…%` in save nodes' file name prefixes
(and in primitive values marked for it) become the named widget's value and the date."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from comfyweb.comfy.workflow.graph import Graph
from comfyweb.comfy.workflow.js_values import js_string

S_AND_R_PROPERTY = "Node name for S&R"


def apply_text_replacements(value: str, graphs: Iterable[Graph], now: datetime) -> str:
    """`value` with each %Node.widget% (a node found by its S&R name, else its title) and %date:…% replaced."""
    every = [node for graph in graphs for node in graph.nodes]

    def replace(match: re.Match) -> str:
        text = match.group(1)
        split = text.split(".")
        if len(split) != 2:
            if split[0].startswith("date:"):
                return format_date(split[0][5:], now)
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
