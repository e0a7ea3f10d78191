"""Summaries of py-spy's collapsed stacks: where a process spent its samples, by thread and function."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

PROJECT_MARKERS = ("comfyweb/", "(bench/")


def summarize(path: Path, top: int = 12) -> dict:
    """Samples per thread, and per function: self samples and inclusive samples (any depth)."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    project: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        threads[frames[0]] += samples
        own[frames[-1]] += samples
        for frame in set(frames[1:]):
            inclusive[frame] += samples
        mine = [frame for frame in frames if any(marker in frame for marker in PROJECT_MARKERS)]
        if mine:
            project[mine[-1]] += samples
    return {
        "samples": total,
        "threads": threads.most_common(6),
        "self": own.most_common(top),
        "inclusive": inclusive.most_common(top),
        "project": project.most_common(top),
    }


def format_summary(summary: dict) -> str:
    total = max(1, summary["samples"])
    lines = [f"{summary['samples']} samples"]
    for title, key in (("threads", "threads"), ("self time", "self"), ("innermost project frame", "project")):
        lines.append(f"  {title}:")
        lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in summary[key]]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(format_summary(summarize(Path(sys.argv[1]))))
