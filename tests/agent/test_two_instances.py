"""Two agent processes (`python -m comfyweb.agent`) sharing a store: a task started on one is followed on the other."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid

import httpx
import pytest
import websockets

from tests.processes import AgentProcess, EmulatorProcess, manage, stop
from tests.prompts import sampler_workflow
from tests.services import redis_url

pytestmark = pytest.mark.slow

POSTGRES_ADMIN_URL = os.environ.get("AGENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = redis_url(9)


@pytest.fixture
def file_store(tmp_path):
    return f"file://{tmp_path / 'shared-tasks'}", {}


@pytest.fixture
def redis_store():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (set REDIS_URL): {exc}")
    yield REDIS_URL, {}
    client.close()


@pytest.fixture
def database_store():
    """A fresh PostgreSQL database with the agent's table, dropped afterwards."""
    import psycopg

    database_url = os.environ.get("DATABASE_URL", "")
    admin_url = POSTGRES_ADMIN_URL if not database_url.startswith("postgres") else database_url
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {admin_url} (set AGENT_TEST_POSTGRES_URL): {exc}")
    name = f"comfyweb_agent_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    migrate = manage("migrate", "agent", env={"DATABASE_URL": url}, stdout=subprocess.DEVNULL)
    assert migrate.wait(120) == 0
    yield "db://", {"DATABASE_URL": url}
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


def start_agent(tmp_path, comfyui_url: str, store: str, env: dict) -> tuple[subprocess.Popen, str]:
    """An agent without Django settings (the db:// store configures Django from DATABASE_URL itself)."""
    agent = AgentProcess(tmp_path, comfyui_url, "--store", store, env={"AGENT_STALL_SECONDS": "0", **env})
    return agent.process, agent.url


async def _status(client: httpx.AsyncClient, url: str, task_id: str) -> dict:
    answer = await client.get(f"{url}/api/status", params={"id": task_id})
    return answer.json() if answer.status_code == 200 else {}


async def _until(client, url, task_id, statuses) -> dict:
    for _ in range(600):
        progress = await _status(client, url, task_id)
        if progress.get("", {}).get("status") in statuses:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_id} never reached {statuses} on {url}")


@pytest.mark.parametrize(
    "store_fixture",
    ["file_store", pytest.param("redis_store", marks=pytest.mark.redis),
     pytest.param("database_store", marks=pytest.mark.postgres)],
)  # fmt: skip
async def test_a_task_started_on_one_instance_is_read_followed_and_cancelled_on_the_other(
    store_fixture, request, tmp_path
):
    store, env = request.getfixturevalue(store_fixture)
    emulator = EmulatorProcess(tmp_path, step_ms=20)
    first, first_url = start_agent(tmp_path, emulator.url, store, env)
    second, second_url = start_agent(tmp_path, emulator.url, store, env)
    followed = f"follow-{uuid.uuid4().hex[:8]}"
    doomed = f"doomed-{uuid.uuid4().hex[:8]}"
    try:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            headers = {"X-Fc-Invocation-Type": "Async", "task-id": followed}
            accepted = await client.post(f"{first_url}/api/run", json=sampler_workflow(steps=15), headers=headers)
            assert accepted.status_code == 202
            await _until(client, second_url, followed, {"running"})
            ws_url = second_url.replace("http://", "ws://") + f"/api/run/ws?id={followed}"
            async with websockets.connect(ws_url, max_size=None) as socket:
                frames = [json.loads(raw) async for raw in socket]
            assert frames[0]["type"] == "progress"
            assert frames[-1]["type"] == "result"
            assert frames[-1]["data"]["9"]["results"], "the results travel through the shared store"
            assert (await _status(client, second_url, followed))[""]["status"] == "succeeded"

            headers = {"X-Fc-Invocation-Type": "Async", "task-id": doomed}
            await client.post(f"{first_url}/api/run", json=sampler_workflow(steps=500, seed=9), headers=headers)
            await _until(client, second_url, doomed, {"running"})
            cancel = await client.delete(f"{second_url}/api/run", params={"id": doomed})
            assert cancel.status_code == 202
            final = await _until(client, second_url, doomed, {"cancelled", "failed", "succeeded"})
            assert final[""]["status"] == "cancelled"
    finally:
        stop(first)
        stop(second)
        emulator.stop()
