"""Runs one figure in its own process (its own Django settings): `python -m bench.part NAME JSON-OPTIONS`.

Prints the result as the last line, prefixed with RESULT_PREFIX.
"""

from __future__ import annotations

import importlib
import json
import math
import sys

RESULT_PREFIX = "BENCH-RESULT "
PARTS = {"relay": "bench.relay", "dispatch": "bench.dispatch", "watchers": "bench.watchers",
         "agent": "bench.agent", "inputs": "bench.inputs"}  # fmt: skip


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def main() -> None:
    name, options = sys.argv[1], json.loads(sys.argv[2])
    result = importlib.import_module(PARTS[name]).run(**options)
    print(RESULT_PREFIX + json.dumps(_clean(result)), flush=True)


if __name__ == "__main__":
    main()
