"""300 jobs from 100 visitors survive a GPU backend killed mid-run and a dispatcher restarted mid-run.

Real processes on loopback: four emulated GPU backends (each logs every finished execution to a
file, so a killed one's history is kept), one `runjobs` worker on a SQLite database. The worker
is SIGKILLed and replaced; later one backend is SIGKILLed while a prompt runs on it and started
again on the same port. Every job must end succeeded with its images, and every job id must
appear exactly once among the backends' successful executions: nothing lost, nothing run twice
(a job re-attached after the worker restart is followed, not submitted again).
"""

from __future__ import annotations

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
from tests.processes import BASE_DIR, manage, stop, wait_for_http
from tests.prompts import sampler_workflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

JOBS, VISITORS, BACKENDS = 300, 100, 4
DEADLINE = 300  # seconds for the whole run; far above what it needs

CREATE_JOBS = """
import json
from django.contrib.sessions.backends.db import SessionStore
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.services import create_jobs
template = WorkflowTemplate.objects.create(title="faults", slug="faults", prompt=json.loads({prompt!r}))
jobs = []
for visitor in range({visitors}):
    session = SessionStore(); session["visitor"] = visitor; session.create()
    jobs += create_jobs(template=template, values={{}}, quantity={per_visitor}, session_key=session.session_key)
print(json.dumps([str(job.pk) for job in jobs]))
"""


class LoggedEmulator:
    """An emulated GPU in its own process whose finished executions survive it being killed."""

    def __init__(self, tmp_path: Path, index: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"runs-{index}.jsonl"
        self.root = tmp_path / f"emulator-{index}"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.emulators", "--count", "1", "--port", str(self.port), "--step-ms", "20",
             "--root", str(self.root), "--runs-log", str(self.log)],
            cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_http(f"{self.url}/system_stats", process=self.process)

    def runs(self) -> list[list]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def running(self) -> list:
        return httpx.get(f"{self.url}/queue", timeout=5).json()["queue_running"]

    def held_prompt(self) -> str | None:
        """The prompt held by the stall fault: the one running now and still running a second later.

        A prompt that was already past the stall point when the fault was set finishes within
        a few steps; only the held one keeps the backend for good.
        """
        before = self.running()
        time.sleep(1.0)
        after = self.running()
        if before and after and before[0][1] == after[0][1]:
            return after[0][1]
        return None

    def kill(self) -> None:
        stop(self.process, signal.SIGKILL)


def jobs_by_status(database: Path) -> dict[str, list[str]]:
    with sqlite3.connect(database, timeout=30) as connection:
        rows = connection.execute("SELECT id, status FROM jobs_job").fetchall()
    found: dict[str, list[str]] = {}
    for job_id, status in rows:
        found.setdefault(status, []).append(str(job_id))
    return found


def finished(database: Path) -> set[str]:
    statuses = jobs_by_status(database)
    return {job_id for status in ("succeeded", "failed", "cancelled") for job_id in statuses.get(status, [])}


def wait_until(condition, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.2)


def canonical(job_id: str) -> str:
    """SQLite keeps UUIDs as 32 hex digits; the emulators see them with dashes."""
    return job_id.replace("-", "")


def test_300_jobs_survive_a_killed_backend_and_a_restarted_worker(tmp_path):
    database = tmp_path / "db.sqlite3"
    backends = [LoggedEmulator(tmp_path, index) for index in range(BACKENDS)]
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "GPU_BACKENDS": ",".join(f"comfyui+{backend.url}#2" for backend in backends),
        "JOB_HEARTBEAT_STALE": "10",  # above the worker's 5 s heartbeat: only a dead worker's jobs go stale
        "JOB_MAX_ATTEMPTS": "6",
        "LOG_LEVEL": "WARNING",
    }
    workers: list[subprocess.Popen] = []

    def start_worker(name: str) -> subprocess.Popen:
        worker = manage("runjobs", "--name", name, "--poll", "0.2", env=env, stdout=subprocess.DEVNULL,
                        stderr=(tmp_path / f"{name}.log").open("w"))  # fmt: skip
        workers.append(worker)
        return worker

    try:
        assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(120) == 0
        script = CREATE_JOBS.format(prompt=json.dumps(sampler_workflow(steps=6, seed=-1)), visitors=VISITORS,
                                    per_visitor=JOBS // VISITORS)  # fmt: skip
        created = manage("shell", "-c", script, env=env, stdout=subprocess.PIPE, text=True)
        output, _ = created.communicate(timeout=120)
        job_ids = json.loads(output.strip().splitlines()[-1])
        assert len(job_ids) == len(set(job_ids)) == JOBS

        # The dispatcher dies without any warning with jobs in flight; another one takes over.
        first = start_worker("worker-1")
        wait_until(lambda: len(finished(database)) >= JOBS // 5, "a fifth of the jobs finished")
        stop(first, signal.SIGKILL)
        killed_at = time.time()
        start_worker("worker-2")

        # A GPU box dies while it runs a prompt: hold it inside a prompt, make sure everything it finished
        # before was collected (so a re-run would be a real double run), then kill it and start it again.
        victim = backends[0]
        wait_until(lambda: len(finished(database)) >= JOBS // 2, "half of the jobs finished")
        httpx.post(f"{victim.url}/emulator/faults", json={"stall_seconds": 600, "stall_at_node": "3"}, timeout=5)
        wait_until(lambda: victim.held_prompt() is not None, "a prompt is held on the backend to kill")
        stalled = victim.held_prompt()
        # Nothing finishes there any more: once what finished before is collected, a re-run would be a double.
        done_there = {canonical(run[1]) for run in victim.runs() if run[4] == "success"}
        wait_until(lambda: done_there <= {canonical(i) for i in finished(database)}, "its finished jobs collected")
        victim.kill()
        victim.start()

        wait_until(lambda: len(finished(database)) == JOBS, "every job reached a final state")
    finally:
        for worker in workers:
            stop(worker)
        for backend in backends:
            backend.kill()

    statuses = jobs_by_status(database)
    assert {status: len(ids) for status, ids in statuses.items()} == {"succeeded": JOBS}

    successes = [canonical(run[1]) for backend in backends for run in backend.runs() if run[4] == "success"]
    expected = sorted(canonical(job_id) for job_id in job_ids)
    duplicates = sorted({job_id for job_id in successes if successes.count(job_id) > 1})
    assert not duplicates, f"jobs run to completion twice: {duplicates}"
    assert sorted(successes) == expected, "every job ran to completion exactly once"
    assert canonical(stalled) in successes, "the job running on the killed backend was run again elsewhere"

    with sqlite3.connect(database) as connection:
        outputs = connection.execute("SELECT count(*), count(DISTINCT job_id) FROM jobs_joboutput").fetchone()
        retried = connection.execute("SELECT count(*) FROM jobs_job WHERE attempts > 1").fetchone()[0]
        claimed = {row[0] for row in connection.execute("SELECT DISTINCT claimed_by FROM jobs_job")}
        taken_over = {canonical(row[0]) for row in connection.execute(
            "SELECT id FROM jobs_job WHERE claimed_by = 'worker-2' AND attempts > 1")}  # fmt: skip
    assert outputs == (JOBS, JOBS), "every job stored its image once"
    assert retried >= 1, "the killed backend's and the killed worker's jobs were dispatched again"
    assert claimed == {"worker-1", "worker-2"}, "both workers finished jobs"
    started_before_kill = {
        canonical(run[1]) for backend in backends for run in backend.runs() if run[2] and run[2] / 1000 < killed_at
    }
    assert taken_over & started_before_kill, "the new worker re-attached to prompts the killed one had started"
