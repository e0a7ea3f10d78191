"""The memory a real server process takes while a test does something to it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 2**20


def _high_water_mark(pid: int) -> int:
    """The kernel's record of the process's largest resident set since the last reset (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1)) * 1024


@dataclass
class Growth:
    baseline: int = 0
    peak: int = 0

    @property
    def peak_mb(self) -> float:
        """How far above its resident memory before, at most, the process went."""
        return (self.peak - self.baseline) / MB


@contextlib.contextmanager
def peak_rss_growth(pid: int) -> Iterator[Growth]:
    """Measure the peak resident memory of process `pid` (psutil, the kernel's high-water mark) during the block.

    The high-water mark is reset first (`/proc/<pid>/clear_refs`), so no spike escapes between two samples.
    """
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    growth = Growth(baseline=psutil.Process(pid).memory_info().rss)
    yield growth
    growth.peak = max(_high_water_mark(pid), psutil.Process(pid).memory_info().rss)
