"""Print the runtime part of requirements.txt: the images install no test or lint tools.

requirements.txt is made of blocks separated by blank lines, each opened by a comment line; a block
whose opening comment mentions tests or tooling is left out. Standard library only: it runs before
anything is installed.

    python deploy/runtime_requirements.py requirements.txt > runtime.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DEV_BLOCK = re.compile(r"\b(tests?|tooling|lint)\b", re.IGNORECASE)


def runtime_lines(text: str) -> list[str]:
    """The requirement lines of every block that is not a test/tooling block."""
    keep, block_start, lines = True, True, []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            block_start = True
            continue
        if line.startswith("#"):
            if block_start:
                keep = not DEV_BLOCK.search(line)
        else:
            keep = keep or block_start  # a block without an opening comment is runtime
            if keep:
                lines.append(line)
        block_start = False
    return lines


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "requirements.txt")
    sys.stdout.write("".join(f"{line}\n" for line in runtime_lines(path.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
