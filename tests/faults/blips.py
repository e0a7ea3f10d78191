"""The scaled-out stack with 30 jobs, 2 workers and 30 open watchers, through an outage a test brings about.

Shared by the Redis and PostgreSQL fault tests. Real processes on loopback: two emulated GPU backends
that log every finished execution to a file (`LoggedEmulator`), one web process (`manage.py web`), two
`runjobs` workers, and 30 watchers, one per job, that follow it on /ws/jobs/<id>/ like the job page does
(a closed socket is opened again after a pause). `Blip.run(outage)` starts the workers, calls `outage()`
once a third of the jobs succeeded, and waits until every job is final and every watcher has seen its
final state (or a generous deadline passes).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import websockets

from tests.faults.test_lost_backend_and_worker import LoggedEmulator, canonical
from tests.processes import free_port, manage, stop, wait_for_http
from tests.prompts import sampler_workflow

JOBS = 30
STEPS = 40  # at the LoggedEmulator's 20 ms a step: about a second a job, one job at a time per backend
FINAL = ("succeeded", "failed", "cancelled")
DEADLINE = 300  # seconds for every job to end; far above what it needs
CONVERGE = 60  # seconds, after the jobs ended, for every watcher to have seen its job's final state

CREATE_JOBS = """
import json
from django.contrib.sessions.backends.db import SessionStore
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.services import create_jobs
template = WorkflowTemplate.objects.create(title="blip", slug="blip", prompt=json.loads({prompt!r}))
pairs = []
for index in range({jobs}):
    session = SessionStore(); session["visitor"] = index; session.create()
    job = create_jobs(template=template, values={{}}, session_key=session.session_key)[0]
    pairs.append([str(job.pk), session.session_key])
print(json.dumps(pairs))
"""


@dataclass
class Watcher:
    """One browser-like follower of one job: every frame it got, and when it got the final state."""

    job_id: str
    session_key: str
    statuses: list[str] = field(default_factory=list)
    connects: int = 0
    final_at: float | None = None

    async def follow(self, web_url: str, stop_at: float) -> None:
        url = web_url.replace("http://", "ws://", 1) + f"/ws/jobs/{self.job_id}/"
        headers = {"Cookie": f"sessionid={self.session_key}", "Origin": web_url}
        while self.final_at is None and time.monotonic() < stop_at:
            try:
                async with websockets.connect(url, additional_headers=headers, open_timeout=10) as socket:
                    self.connects += 1
                    async for raw in socket:
                        frame = json.loads(raw)
                        if frame.get("type") != "job":
                            continue
                        self.statuses.append(frame["job"]["status"])
                        if self.statuses[-1] in FINAL:
                            self.final_at = time.time()
                            return
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            await asyncio.sleep(1.0)  # like the page: open it again after a pause


class Blip:
    """The stack of one fault test; `env` names its database and Redis."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.backends = [LoggedEmulator(tmp_path, index) for index in range(2)]
        self.env = {
            **env,
            "GPU_BACKENDS": ",".join(f"comfyui+{backend.url}#3" for backend in self.backends),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "LOG_LEVEL": "WARNING",
        }
        self.database_url = env["DATABASE_URL"]
        self.processes: dict[str, subprocess.Popen] = {}
        self.watchers: list[Watcher] = []
        self.outage_started = self.outage_ended = 0.0

    def prepare(self) -> None:
        assert manage("migrate", "--noinput", env=self.env, stdout=subprocess.DEVNULL).wait(180) == 0
        script = CREATE_JOBS.format(prompt=json.dumps(sampler_workflow(steps=STEPS, seed=-1)), jobs=JOBS)
        created = manage("shell", "-c", script, env=self.env, stdout=subprocess.PIPE, text=True)
        output, _ = created.communicate(timeout=180)
        self.watchers = [Watcher(job_id, session) for job_id, session in json.loads(output.strip().splitlines()[-1])]
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self._start("web", "web", "--host", "127.0.0.1", "--port", str(port))
        wait_for_http(f"{self.web_url}/healthz", process=self.processes["web"], timeout=120)

    def _start(self, name: str, *args: str) -> None:
        log = (self.tmp_path / f"{name}.log").open("w")
        self.processes[name] = manage(*args, env=self.env, stdout=subprocess.DEVNULL, stderr=log)

    def statuses(self) -> dict[str, str]:
        """The jobs' statuses; {} while the database does not answer."""
        try:
            with psycopg.connect(self.database_url, connect_timeout=2) as connection:
                rows = connection.execute("SELECT id, status FROM jobs_job").fetchall()
        except psycopg.OperationalError:
            return {}
        return {str(job_id): status for job_id, status in rows}

    def finished(self) -> set[str]:
        return {job_id for job_id, status in self.statuses().items() if status in FINAL}

    def run(self, outage: Callable[[], None]) -> None:
        """Start the watchers and the workers, bring the outage about at a third of the way, wait for the end."""
        stop_at = time.monotonic() + DEADLINE + CONVERGE

        async def follow_all() -> None:
            await asyncio.gather(*(watcher.follow(self.web_url, stop_at) for watcher in self.watchers))

        followers = threading.Thread(target=asyncio.run, args=(follow_all(),))
        followers.start()
        try:
            self._wait(lambda: sum(w.connects > 0 for w in self.watchers) == JOBS, "every watcher is connected", 60)
            for name in ("worker-a", "worker-b"):
                self._start(name, "runjobs", "--name", name, "--poll", "0.2")
            self._wait(lambda: len(self.finished()) >= JOBS // 3, "a third of the jobs ended")
            self.outage_started = time.time()
            outage()
            self.outage_ended = time.time()
            self._wait(lambda: len(self.finished()) == JOBS, "every job ended", DEADLINE)
            try:
                self._wait(lambda: all(w.final_at for w in self.watchers), "every watcher saw its job's end", CONVERGE)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{self.unconverged()}\n{self.logs()}") from None
        finally:
            followers.join(DEADLINE + CONVERGE)

    @staticmethod
    def _wait(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting until {what}")
            time.sleep(0.2)

    def unconverged(self) -> str:
        """The watchers still waiting for their job's end: what they saw, and what the database holds."""
        stored = self.statuses()
        return "\n".join(
            f"watcher of {w.job_id}: {w.connects} connect(s), saw {w.statuses[-5:]}, stored {stored.get(w.job_id)}"
            for w in self.watchers
            if w.final_at is None
        )

    def alive(self) -> dict[str, bool]:
        return {name: process.poll() is None for name, process in self.processes.items()}

    def ended_on_a_backend_during_the_outage(self) -> set[str]:
        """Jobs whose execution on a backend ended while the outage lasted (their result had to wait or be resent)."""
        window = (self.outage_started * 1000, self.outage_ended * 1000)
        return {canonical(run[1]) for backend in self.backends for run in backend.runs()
                if run[3] and window[0] <= run[3] <= window[1]}  # fmt: skip

    def executions(self) -> list[str]:
        """Every job id that ran to success on a backend, once per execution."""
        return [canonical(run[1]) for backend in self.backends for run in backend.runs() if run[4] == "success"]

    def attempts(self) -> dict[str, int]:
        with psycopg.connect(self.database_url) as connection:
            return {str(job_id): n for job_id, n in connection.execute("SELECT id, attempts FROM jobs_job")}

    def logs(self) -> str:
        tails = {name: (self.tmp_path / f"{name}.log").read_text()[-3000:] for name in self.processes}
        return "\n".join(f"--- {name}\n{tail}" for name, tail in tails.items())

    def stop(self) -> None:
        for process in self.processes.values():
            stop(process)
        for backend in self.backends:
            backend.kill()
