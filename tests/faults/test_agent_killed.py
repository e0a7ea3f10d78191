"""The GPU agent SIGKILLed with 6 jobs in flight on its 2 slots, restarted after 3 s, then after 12 s: no job lost.

Real processes on loopback: an emulated ComfyUI (it outlives the agent, like a real one), the agent
(`python -m comfyweb.agent`, file store, concurrency 2) and one `runjobs` worker on SQLite with the agent as
its only backend. A batch of 6 jobs first runs without a fault (its wall time is the run time); then a
batch is run, the agent killed once both slots are busy and started again on the same port and store
3 s later; then another batch with 12 s. Each faulty batch must end all succeeded, each job with one stored
output, and no queued/running record nor cancel request left in the store. The times are printed (the agent
README quotes them); the only bound on them is the generous wait for each batch, as the machine may be busy.

The restarted agent marks its predecessor's tasks failed (`agent restarted`) and takes their prompts off
ComfyUI; the web's runner, re-attaching, treats such a task as lost and sends the job back to the queue,
counting an attempt; the next attempt runs it again.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import BASE_DIR, EmulatorProcess, manage, stop, wait_for_http
from tests.prompts import sampler_workflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

JOBS, SLOTS = 6, 2
STEPS, STEP_MS = 40, 50  # 2 s a job on the emulator, which runs one prompt at a time
BATCH_BOUND = 300.0  # seconds a batch may take at all: a bound for a busy machine, not a target

CREATE_JOBS = """
import json
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.services import create_jobs
template, _ = WorkflowTemplate.objects.get_or_create(slug="killed-agent", defaults={{
    "title": "killed agent", "prompt": json.loads({prompt!r})}})
jobs = create_jobs(template=template, values={{}}, quantity={count}, session_key="visitor-{batch}")
print(json.dumps([str(job.pk) for job in jobs]))
"""


class RestartableAgent:
    """The agent on a fixed port and store, so that a restarted one takes the place of the killed one."""

    def __init__(self, tmp_path: Path, comfyui_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = tmp_path / "agent-tasks"
        self.log = tmp_path / "agent.log"
        self.comfyui_url = comfyui_url
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "comfyweb.agent", "--host", "127.0.0.1", "--port", str(self.port),
             "--comfyui-url", self.comfyui_url, "--store", f"file://{self.store}", "--concurrency", str(SLOTS)],
            cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"),
        )  # fmt: skip
        wait_for_http(f"{self.url}/api/health", process=self.process)

    def kill(self) -> None:
        stop(self.process, signal.SIGKILL)  # waited for: no zombie keeps the pid alive

    def records(self) -> list[dict]:
        return [json.loads(path.read_text()) for path in self.store.glob("*.json")]


def query(database: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(database, timeout=30) as connection:
        return connection.execute(sql, args).fetchall()


def canonical(job_id: str) -> str:
    return job_id.replace("-", "")


def statuses(database: Path, job_ids: list[str]) -> dict[str, str]:
    wanted = {canonical(job_id) for job_id in job_ids}
    return {job_id: status for job_id, status in query(database, "SELECT id, status FROM jobs_job") if job_id in wanted}


def wait_until(condition, what: str, timeout: float = BATCH_BOUND) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def test_jobs_survive_the_agent_killed_and_restarted_after_3_s_and_after_12_s(tmp_path):
    database = tmp_path / "db.sqlite3"
    emulator = EmulatorProcess(tmp_path, step_ms=STEP_MS)
    agent = RestartableAgent(tmp_path, emulator.url)
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "GPU_BACKENDS": f"agent+{agent.url}#{SLOTS}",
        "LOG_LEVEL": "WARNING",
    }
    worker = None

    def batch(number: int, kill_and_wait: float | None) -> tuple[float, list[str]]:
        script = CREATE_JOBS.format(prompt=json.dumps(sampler_workflow(steps=STEPS, seed=-1)), count=JOBS, batch=number)
        created = manage("shell", "-c", script, env=env, stdout=subprocess.PIPE, text=True)
        output, _ = created.communicate(timeout=120)
        job_ids = json.loads(output.strip().splitlines()[-1])
        started = time.monotonic()
        if kill_and_wait is not None:

            def both_slots_busy() -> bool:
                running = [s for s in statuses(database, job_ids).values() if s == "running"]
                queue = {"queue_running": [], "queue_pending": []}
                with contextlib.suppress(httpx.HTTPError):
                    queue = httpx.get(f"{emulator.url}/queue", timeout=5).json()
                return len(running) == SLOTS and len(queue["queue_running"]) + len(queue["queue_pending"]) == SLOTS

            wait_until(both_slots_busy, "both of the agent's slots run a job")
            agent.kill()  # while ComfyUI runs one of its prompts and holds the other
            time.sleep(kill_and_wait)
            agent.start()
        wait_until(
            lambda: (
                set(statuses(database, job_ids).values()) <= {"succeeded", "failed", "cancelled"}
                and len(statuses(database, job_ids)) == JOBS
            ),
            f"batch {number} ended",
        )
        return time.monotonic() - started, job_ids

    try:
        assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(120) == 0
        worker = manage("runjobs", "--name", "worker", "--poll", "0.2", env=env, stdout=subprocess.DEVNULL,
                        stderr=(tmp_path / "worker.log").open("w"))  # fmt: skip
        run_time, baseline_ids = batch(1, None)
        after_3, ids_3 = batch(2, 3.0)
        after_12, ids_12 = batch(3, 12.0)
        records = agent.records()
    finally:
        if worker is not None:
            stop(worker)
        agent.kill()
        emulator.stop()

    print(f"\nrun time {run_time:.1f} s; killed, restarted after 3 s: {after_3:.1f} s; after 12 s: {after_12:.1f} s")
    all_ids = baseline_ids + ids_3 + ids_12
    final = statuses(database, all_ids)
    assert sorted(final.values()) == ["succeeded"] * len(all_ids), (tmp_path / "worker.log").read_text()[-3000:]

    outputs = query(database, "SELECT count(*), count(DISTINCT job_id) FROM jobs_joboutput")[0]
    assert outputs == (len(all_ids), len(all_ids)), "every job stored its one image once: no duplicate"
    for ids in (ids_3, ids_12):
        wanted = {canonical(job_id) for job_id in ids}
        attempts = {job_id: n for job_id, n in query(database, "SELECT id, attempts FROM jobs_job") if job_id in wanted}
        assert max(attempts.values()) >= 2, "the jobs the dead agent held ran again, as counted attempts"
    assert not [r["id"] for r in records if "progress" not in r], "no cancel request left"
    final_statuses = ("succeeded", "failed", "cancelled")
    left = [r["id"] for r in records if (r["progress"].get("") or {}).get("status") not in final_statuses]
    assert left == [], "no queued or running record left in the store"
    restarted = [r for r in records if ((r["progress"].get("") or {}).get("error") or {}).get("kind") == "restarted"]
    assert not restarted, "every task marked `agent restarted` was run again under its id, and succeeded"
