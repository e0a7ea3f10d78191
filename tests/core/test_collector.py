"""A started server keeps what it loaded out of the collector's sight: a full collection then walks only what
was made since the start (the relay's worst pauses were full collections of the start-up heap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Run in a process of its own: freezing the heap of the test process would change every later test.
PROBE = """
import gc, json
import django
from django.conf import settings
django.setup()
import comfyweb.asgi  # the whole site, as `manage.py web` loads it
from comfyweb.core.collector import settle_heap

before = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}
settle_heap()
after = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}
print(json.dumps({"before": before, "after": after}))
"""


def test_the_start_up_heap_is_frozen():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "comfyweb.settings", "EMBEDDED_DEV": "1"}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    heap = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = heap["before"], heap["after"]
    assert after["threshold"] == before["threshold"]  # Python's own: cycles holding photos go as soon as before
    assert before["frozen"] == 0
    # what the loaded site holds is out of the collector's sight: a full collection walks a tenth of it or less
    assert after["frozen"] > 100_000
    assert after["tracked"] * 10 < before["tracked"], heap
