"""The scaled-out topology: PostgreSQL row claims, Redis channel layer, several worker and web processes.

Everything runs as real processes on loopback: three emulated GPU backends with two slots each,
two `runjobs` workers and a web process (`manage.py web`), against a fresh PostgreSQL database, Redis and an S3 API
(moto's server, tests/s3.py) holding the results.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import httpx
import psycopg
import pytest
import websockets

from tests.conftest import free_port
from tests.processes import EmulatorProcess, manage, stop, wait_for_http
from tests.prompts import sampler_workflow
from tests.services import clean_redis, redis_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = redis_url(7)
JOBS, VISITORS = 200, 20

CREATE_JOBS = """
import json
from django.contrib.sessions.backends.db import SessionStore
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.services import create_jobs
template = WorkflowTemplate.objects.create(title="scale", slug="scale", prompt=json.loads({prompt!r}))
sessions, jobs = [], []
for visitor in range({visitors}):
    session = SessionStore(); session["visitor"] = visitor; session.create(); sessions.append(session.session_key)
for index in range({jobs}):
    jobs += create_jobs(template=template, values={{}}, session_key=sessions[index % {visitors}])
print(json.dumps({{"jobs": [str(job.pk) for job in jobs], "session": sessions[0]}}))
"""


@pytest.fixture
def redis_url():
    with clean_redis(REDIS_URL) as url:
        yield url


def final_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as connection:
        return dict(connection.execute("SELECT status, count(*) FROM jobs_job GROUP BY status").fetchall())


def hold_queue(database_url: str, *, held: bool) -> None:
    """Keep every queued job out of the workers' claims (not_before far ahead), or let them all go."""
    with psycopg.connect(database_url) as connection:
        connection.execute("UPDATE jobs_job SET not_before = %s WHERE status = 'queued'",
                           ["9999-01-01T00:00:00Z" if held else None])  # fmt: skip


def wait_for_start(logs: dict, workers: list[subprocess.Popen], timeout: float = 120) -> None:
    """Until every worker has logged its start (it claims at its next poll)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(f"job worker {name} started" in log.read_text() for name, log in logs.items()):
            return
        for worker in workers:
            assert worker.poll() is None, f"a worker exited: {[log.read_text()[-2000:] for log in logs.values()]}"
        time.sleep(0.2)
    pytest.fail(f"the workers did not start: {[log.read_text()[-2000:] for log in logs.values()]}")


async def watch(url: str, session_key: str, frames: list[dict]) -> None:
    """A browser-like watcher of one job, through the web process."""
    headers = {"Cookie": f"sessionid={session_key}", "Origin": "http://127.0.0.1"}
    async with websockets.connect(url, additional_headers=headers) as socket:
        async for raw in socket:
            frames.append(json.loads(raw)["job"])
            if frames[-1]["status"] in ("succeeded", "failed", "cancelled"):
                return


def test_200_jobs_over_3_backends_and_2_workers_all_succeed_once(tmp_path, postgres_database, redis_url, s3):
    backends = [EmulatorProcess(tmp_path, step_ms=5) for _ in range(3)]
    bucket = s3.create_bucket()
    processes: list[subprocess.Popen] = []
    env = {
        "DATABASE_URL": postgres_database,
        "REDIS_URL": redis_url,
        "GPU_BACKENDS": ",".join(f"comfyui+{backend.url}#2" for backend in backends),
        "JOB_MAX_QUEUED_PER_VISITOR": str(JOBS),
        "MEDIA_ROOT": str(tmp_path / "media"),
        **s3.env(bucket),
    }
    try:
        assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(120) == 0
        script = CREATE_JOBS.format(prompt=json.dumps(sampler_workflow(steps=4, seed=-1)), jobs=JOBS,
                                    visitors=VISITORS)  # fmt: skip
        created = manage("shell", "-c", script, env=env, stdout=subprocess.PIPE, text=True)
        output, _ = created.communicate(timeout=120)
        batch = json.loads(output.strip().splitlines()[-1])
        assert len(batch["jobs"]) == JOBS

        port = free_port()
        web = manage("web", "--host", "127.0.0.1", "--port", str(port), env=env, stdout=subprocess.DEVNULL,
                     stderr=(tmp_path / "web.log").open("w"))  # fmt: skip
        processes.append(web)
        wait_for_http(f"http://127.0.0.1:{port}/", process=web)

        frames: list[dict] = []
        watched = batch["jobs"][0]

        async def scenario() -> None:
            watcher = asyncio.create_task(watch(f"ws://127.0.0.1:{port}/ws/jobs/{watched}/", batch["session"], frames))
            await asyncio.sleep(0.5)  # the watcher is subscribed before any worker starts
            # Both workers are up before the batch is released: on a busy machine one worker can take
            # seconds longer to start, long enough for the other to run all 200 jobs alone.
            await asyncio.to_thread(hold_queue, postgres_database, held=True)
            logs = {name: tmp_path / f"{name}.log" for name in ("worker-a", "worker-b")}
            for name, log in logs.items():
                processes.append(manage("runjobs", "--name", name, "--poll", "0.1", env=env,
                                        stdout=subprocess.DEVNULL, stderr=log.open("w")))  # fmt: skip
            await asyncio.to_thread(wait_for_start, logs, processes[-2:])
            await asyncio.to_thread(hold_queue, postgres_database, held=False)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                counts = await asyncio.to_thread(final_counts, postgres_database)
                if sum(counts.get(s, 0) for s in ("succeeded", "failed", "cancelled")) == JOBS:
                    break
                await asyncio.sleep(0.5)
            try:
                await asyncio.wait_for(watcher, 30)
            except TimeoutError:
                pytest.fail(f"the watcher saw only {[frame['status'] for frame in frames]}")

        asyncio.run(scenario())
        counts = final_counts(postgres_database)
        assert counts == {"succeeded": JOBS}

        histories = [backend.history() for backend in backends]
        ran = [prompt_id for history in histories for prompt_id in history]
        assert sorted(ran) == sorted(batch["jobs"]), "every job ran exactly once on some backend"
        assert all(histories), "every backend took work"

        with psycopg.connect(postgres_database) as connection:
            outputs = connection.execute("SELECT count(*), count(DISTINCT job_id) FROM jobs_joboutput").fetchone()
            workers = connection.execute("SELECT count(DISTINCT claimed_by) FROM jobs_job").fetchone()[0]
            stored = connection.execute("SELECT file FROM jobs_joboutput").fetchall()
        assert outputs == (JOBS, JOBS)
        assert {name for (name,) in stored} <= set(s3.keys(bucket)), "every result is an object of the bucket"
        assert not (tmp_path / "media").exists(), "nothing went to local disk"
        assert workers == 2, "both workers took jobs"

        statuses = [frame["status"] for frame in frames]
        assert statuses[0] == "queued" and statuses[-1] == "succeeded"
        assert "running" in statuses, "live updates crossed processes through Redis"
        assert frames[-1]["outputs"], "the final frame carries the images"
        image = frames[-1]["outputs"][0]["url"]
        assert image.startswith(f"{s3.url}/{bucket}/") and "X-Amz-Signature=" in image, "a presigned S3 link"
        assert httpx.get(image, timeout=10).status_code == 200
    finally:
        for process in processes:
            stop(process)
        for backend in backends:
            backend.stop()


WRITE_PROGRESS = """
import json
from comfyweb.catalog.models import WorkflowTemplate
from comfyweb.jobs.models import Job
from comfyweb.jobs.relay.progress_writes import write_progress
template = WorkflowTemplate.objects.create(title="t", slug="t", prompt={"1": {"class_type": "X", "inputs": {}}})
mine, taken = (Job.objects.create(template=template, prompt=template.prompt, session_key="s", status="running",
                                  claimed_by="w1") for _ in range(2))
Job.objects.filter(pk=taken.pk).update(claimed_by="w2")
for job in (mine, taken):
    job.progress, job.percent, job.current_node = {"3": {"value": 5, "max": 9, "note": "北京"}}, 55.5, "KSampler"
verdicts = write_progress([(mine, "w1"), (taken, "w1")])
stored = {str(job.pk): [job.progress, job.percent, job.current_node, job.heartbeat_at is not None]
          for job in Job.objects.all()}
print(json.dumps({"verdicts": {str(k): v for k, v in verdicts.items()}, "stored": stored, "mine": str(mine.pk),
                  "taken": str(taken.pk)}))
"""


def test_batched_progress_writes_on_postgresql(postgres_database):
    """The batched UPDATE's parameters (JSON, UUID, time) as PostgreSQL receives them."""
    env = {"DATABASE_URL": postgres_database}
    assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(120) == 0
    done = manage("shell", "-c", WRITE_PROGRESS, env=env, stdout=subprocess.PIPE, text=True)
    output, _ = done.communicate(timeout=120)
    result = json.loads(output.strip().splitlines()[-1])
    assert result["verdicts"] == {result["taken"]: "lost"}
    assert result["stored"][result["mine"]] == [{"3": {"value": 5, "max": 9, "note": "北京"}}, 55.5, "KSampler", True]
    assert result["stored"][result["taken"]] == [{}, 0.0, "", False]
