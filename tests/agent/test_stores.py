"""Task stores: whole records replaced atomically, ids that cannot escape, expiry; file, Redis and database."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time

import pytest

from comfyweb.agent.stores import DatabaseStore, FileStore, InvalidTaskId, RedisStore, open_store
from tests.services import redis_url

REDIS_URL = redis_url(8)


def big_record(writer: int, version: int) -> dict:
    return {"id": "shared", "writer": writer, "version": version, "progress": {"": {"status": "running"}},
            "padding": "x" * 200_000}  # fmt: skip


def _write_many(directory: str, writer: int, count: int) -> None:
    store = FileStore(directory)
    for version in range(count):
        store._write("shared", big_record(writer, version))


async def test_file_store_round_trips_and_expires(tmp_path):
    store = FileStore(tmp_path, ttl=60)
    await store.put("task-1", {"progress": {"": {"status": "queued"}}})
    record = await store.get("task-1")
    assert record["progress"][""]["status"] == "queued" and record["expires_at"] > time.time()
    assert await store.get("task-2") is None
    expired = FileStore(tmp_path, ttl=-1)
    await expired.put("old", {"progress": {}})
    assert await store.get("old") is None
    assert await store.purge_expired() == 1
    assert not (tmp_path / "old.json").exists()
    await store.delete("task-1")
    assert await store.get("task-1") is None


async def test_a_record_left_unreadable_by_a_machine_crash_is_taken_as_gone(tmp_path):
    store = FileStore(tmp_path)
    await store.put("task-1", {"progress": {"": {"status": "running"}}})
    store.path_for("task-1").write_bytes(b"\0" * 64)  # what a power cut may leave of an unsynced write
    assert await store.get("task-1") is None
    await store.put("task-1", {"progress": {"": {"status": "queued"}}})
    assert (await store.get("task-1"))["progress"][""]["status"] == "queued"


@pytest.mark.parametrize("task_id", ["../x", "a/b", "..", ".hidden", "x" * 200, "", "a b", "a\\b", "a..b"])
async def test_file_store_rejects_ids_that_could_be_paths(tmp_path, task_id):
    store = FileStore(tmp_path / "tasks")
    with pytest.raises(InvalidTaskId):
        await store.put(task_id, {"progress": {}})
    with pytest.raises(InvalidTaskId):
        await store.get(task_id)
    assert list(tmp_path.rglob("*.json")) == []


def test_concurrent_writers_never_show_a_reader_a_torn_record(tmp_path):
    """Three processes rewrite one 200 kB record; a reader parses it thousands of times meanwhile."""
    context = multiprocessing.get_context("spawn")
    _write_many(str(tmp_path), 0, 1)
    writers = [context.Process(target=_write_many, args=(str(tmp_path), n, 60)) for n in (1, 2, 3)]
    for process in writers:
        process.start()
    reads = 0
    while any(process.is_alive() for process in writers) or reads < 200:
        record = json.loads((tmp_path / "shared.json").read_bytes())  # raises on a partial file
        assert len(record["padding"]) == 200_000
        reads += 1
    for process in writers:
        process.join()
        assert process.exitcode == 0
    assert not list(tmp_path.glob(".*.tmp")), "no temp file left behind"


def test_store_urls_choose_the_store(tmp_path):
    assert isinstance(open_store(f"file://{tmp_path}/a"), FileStore)
    assert isinstance(open_store(str(tmp_path / "b")), FileStore)
    assert isinstance(open_store("db://"), DatabaseStore)
    assert isinstance(open_store("database"), DatabaseStore)
    assert isinstance(open_store("redis://127.0.0.1:6379/0"), RedisStore)
    with pytest.raises(ValueError, match="unknown task store"):
        open_store("s3://bucket")


@pytest.fixture
async def redis_store():
    import redis.asyncio as redis

    probe = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await probe.ping()
    except (redis.ConnectionError, OSError) as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (set REDIS_URL): {exc}")
    finally:
        await probe.aclose()
    store = RedisStore(REDIS_URL, ttl=60, prefix=f"test:{os.getpid()}:")
    yield store
    await store.close()


@pytest.mark.redis
async def test_redis_store_round_trips_with_a_ttl(redis_store):
    await redis_store.put("r-1", {"progress": {"": {"status": "running"}}})
    assert (await redis_store.get("r-1"))["progress"][""]["status"] == "running"
    assert 0 < await redis_store.redis.ttl(redis_store.key("r-1")) <= 60
    await redis_store.delete("r-1")
    assert await redis_store.get("r-1") is None
    with pytest.raises(InvalidTaskId):
        await redis_store.get("a*")


@pytest.mark.django_db(transaction=True)
async def test_database_store_upserts_and_expires():
    store = DatabaseStore(ttl=60)
    await store.put("d-1", {"progress": {"": {"status": "queued"}}})
    await store.put("d-1", {"progress": {"": {"status": "succeeded"}}})
    assert (await store.get("d-1"))["progress"][""]["status"] == "succeeded"
    gone = DatabaseStore(ttl=-1)
    await gone.put("d-2", {"progress": {}})
    assert await store.get("d-2") is None
    assert await store.purge_expired() == 1
    await asyncio.gather(*(store.put("d-3", {"n": n}) for n in range(5)))
    assert (await store.get("d-3"))["n"] in range(5)
