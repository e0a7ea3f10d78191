"""The results table: each figure with its target and the ratio measured / target."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    measured: str
    target: str
    value: float | None  # measured, in the target's unit
    limit: float | None  # the target: value <= limit meets it (value >= limit with at_least)
    note: str = ""
    at_least: bool = False

    @classmethod
    def failed(cls, name: str, result: dict) -> Figure:
        """The row of a part whose process failed: the last lines it printed."""
        return cls(name, "failed", "", None, None, note=" / ".join(result["error"][-3:]))

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.limit in (None, 0) or math.isnan(self.value):
            return None
        return self.value / self.limit

    @property
    def verdict(self) -> str:
        if self.limit == 0 and self.value is not None and not math.isnan(self.value):  # e.g. "0 errors": no ratio
            return "met" if (self.value >= 0 if self.at_least else self.value <= 0) else "MISSED"
        if self.ratio is None:
            return "-" if self.limit is None else "n/a"
        return "met" if (self.ratio >= 1 if self.at_least else self.ratio <= 1) else "MISSED"


def _row(figure: Figure) -> list[str]:
    ratio = f"{figure.ratio:.3f}" if figure.ratio is not None else "-"
    return [figure.name, figure.measured, figure.target, ratio, figure.verdict]


HEADER = ["figure", "measured", "target", "measured/target", ""]


def render_table(figures: list[Figure]) -> str:
    rows = [HEADER] + [_row(figure) for figure in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_markdown(machine: dict, figures: list[Figure], notes: list[str], profiles: list[str], raw: dict) -> str:
    out = ["# Benchmark results", "", f"Measured by `make bench` on {time.strftime('%Y-%m-%d %H:%M %Z')}.", ""]
    out += [f"- {key}: {value}" for key, value in machine.items()]
    out += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(_row(figure)) + " |" for figure in figures]
    figure_notes = [f"- {figure.name}: {figure.note}" for figure in figures if figure.note]
    if figure_notes:
        out += ["", "## Notes", "", *figure_notes]
    out += ["", *[f"{note}" for note in notes]]
    if profiles:
        out += ["", "## Profiles of missed targets", "", *profiles]
    out += ["", "## Raw results", "", "```json", json.dumps(raw, indent=1, sort_keys=True), "```", ""]
    return "\n".join(out)
