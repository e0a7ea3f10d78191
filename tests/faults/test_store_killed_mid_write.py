"""The agent's file store survives its writer being SIGKILLed mid-write: no torn task record, ever.

A child process rewrites a few task records as fast as it can (each record is large and carries a
checksum of itself); it is killed at arbitrary moments, several times. Afterwards every record a
reader finds must be whole JSON whose checksum matches, and the store keeps working.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import sys
import time

import pytest

from comfyweb.agent.stores import FileStore
from tests.processes import BASE_DIR

pytestmark = pytest.mark.slow

TASKS = ["task-a", "task-b", "task-c"]
KILLS = 6

WRITER = """
import asyncio, hashlib, json, sys
from comfyweb.agent.stores import FileStore

async def main(directory):
    store = FileStore(directory)
    counter = 0
    while True:
        counter += 1
        task_id = {tasks!r}[counter % {count}]
        payload = str(counter) * (200000 + counter % 5000)
        digest = hashlib.sha256(payload.encode()).hexdigest()
        await store.put(task_id, {{"counter": counter, "payload": payload, "sha256": digest}})
        if counter == 1:
            print("ready", flush=True)  # a first record is in

asyncio.run(main(sys.argv[1]))
"""


def check_whole(store: FileStore) -> int:
    """Every record readable and intact; returns how many there are."""
    found = 0
    for task_id in TASKS:
        path = store.path_for(task_id)
        if not path.exists():
            continue
        record = json.loads(path.read_bytes())  # a torn file raises here
        assert hashlib.sha256(record["payload"].encode()).hexdigest() == record["sha256"], task_id
        assert asyncio.run(store.get(task_id))["counter"] == record["counter"]
        found += 1
    return found


def test_records_stay_whole_when_the_writer_is_killed_mid_write(tmp_path):
    directory = tmp_path / "tasks"
    script = WRITER.format(tasks=TASKS, count=len(TASKS))
    store = FileStore(directory)
    counters: list[int] = []
    for round_number in range(KILLS):
        writer = subprocess.Popen([sys.executable, "-c", script, str(directory)], cwd=BASE_DIR,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.13 * round_number)  # a different moment of a write each round (not a wait for it)
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        assert check_whole(store) >= 1
        counters.append(max(json.loads(store.path_for(t).read_bytes())["counter"] for t in TASKS
                            if store.path_for(t).exists()))  # fmt: skip

    assert all(counters), "the writer got records in before every kill"
    # Left-over temporary files of killed writes are invisible to readers, and the store still works.
    asyncio.run(store.put("task-a", {"counter": -1, "payload": "", "sha256": hashlib.sha256(b"").hexdigest()}))
    assert asyncio.run(store.get("task-a"))["counter"] == -1
    assert sorted(path.name for path in directory.glob("*.json")) == [f"{task}.json" for task in TASKS]
