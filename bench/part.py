"""Runs one figure in its own process (its own Django settings): `python -m bench.part NAME JSON-OPTIONS`.

Prints the result as the last line, prefixed with RESULT_PREFIX.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys

RESULT_PREFIX = "BENCH-RESULT "
PARTS = {"relay": "bench.relay", "dispatch": "bench.dispatch", "watchers": "bench.watchers",
         "agent": "bench.agent", "inputs": "bench.inputs", "moderation": "bench.moderation",
         "spike": "bench.spike"}  # fmt: skip


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def raise_fd_limit() -> int:
    """The soft limit on open files up to the hard one: thousands of sockets here and in the processes we start."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    name, options = sys.argv[1], json.loads(sys.argv[2])
    raise_fd_limit()  # inherited by the web, worker and emulator processes the part starts
    # The relay, dispatch and watcher figures measure the job path: the picture check's cost per image is the
    # moderation part's own figure, so the processes started here run without it (unless asked for).
    os.environ.setdefault("MODERATION_CHECKS", "comfyweb.jobs.trust.words.WordListCheck")
    result = importlib.import_module(PARTS[name]).run(**options)
    print(RESULT_PREFIX + json.dumps(_clean(result)), flush=True)


if __name__ == "__main__":
    main()
