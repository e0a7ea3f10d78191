"""Where task state lives, so that every agent instance can answer for every task.

A serverless platform sends `/api/status?id=` or `/api/run/ws?id=` to whichever instance it
likes, so a task's record must be in a store all instances share. Three kinds, chosen by URL:

| `--store` / `AGENT_STORE` | store |
| --- | --- |
| `file:///abs/dir`, `file://rel/dir` or a bare path | one JSON file per task (a NAS mount shares it) |
| `redis://host:6379/1` (`rediss://` too) | one key per task, expiring by itself |
| `db://` or `database` | the `AgentTask` table of Django's default database (`DATABASE_URL`) |

The database store is the only part of the agent that uses Django (its ORM). The agent process
does not configure Django settings; this store does it when it is opened, before its first use
(`ensure_django()`).

Every write replaces a whole record atomically (temp file + rename, one Redis SET, one SQL
upsert): a reader in another process sees the previous record or the new one, never a torn
one. Records expire `ttl` seconds after their last write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

logger = logging.getLogger(__name__)

TASK_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")  # \Z: `$` would accept a trailing newline
REDIS_PREFIX = "comfyweb:agent:task:"
CANCEL_SUFFIX = ".cancel-request"  # the record an instance leaves to ask the task's own instance to cancel it


class InvalidTaskId(ValueError):
    """A task id that could name something other than one task (a path, a key pattern...)."""


def validate_task_id(task_id: str, internal: bool = False) -> str:
    """Task ids come from callers' headers: letters, digits and `_ . : -`, at most 128, never `..`.

    Ids ending in CANCEL_SUFFIX are the agent's own (`internal=True`), never a caller's.
    """
    core = task_id.removesuffix(CANCEL_SUFFIX) if internal and isinstance(task_id, str) else task_id
    if not isinstance(core, str) or not TASK_ID.fullmatch(core) or ".." in core:
        raise InvalidTaskId("task id must be 1-128 characters of letters, digits, '_', '.', ':' or '-'")
    if not internal and core.endswith(CANCEL_SUFFIX):
        raise InvalidTaskId(f"task ids may not end with {CANCEL_SUFFIX}")
    return task_id


def cancel_marker(task_id: str) -> str:
    return task_id + CANCEL_SUFFIX


def new_task_id() -> str:
    return str(uuid.uuid4())


class TaskStore(ABC):
    """A key → JSON record map shared by agent instances; `put` replaces a record atomically."""

    def __init__(self, ttl: int = 7 * 24 * 3600) -> None:
        self.ttl = ttl

    @abstractmethod
    async def get(self, task_id: str) -> dict | None:
        """The record, or None when unknown or expired."""

    @abstractmethod
    async def put(self, task_id: str, record: dict) -> None:
        """Store `record` whole, replacing any previous one."""

    @abstractmethod
    async def delete(self, task_id: str) -> None: ...

    async def purge_expired(self) -> int:
        """Remove expired records where the backend does not expire them itself; returns how many."""
        return 0

    @abstractmethod
    async def unfinished(self) -> list[dict]:
        """Every task record still queued or running (cancel requests and the like excluded)."""

    async def ping(self) -> None:  # noqa: B027 - most stores have nothing to check
        """Raise when the store cannot be used (readiness)."""

    async def close(self) -> None:
        return None

    def _stamp(self, record: dict) -> dict:
        now = time.time()
        return {**record, "updated_at": now, "expires_at": now + self.ttl}


def _expired(record: dict | None) -> bool:
    return bool(record) and record.get("expires_at", float("inf")) < time.time()


FINAL = ("succeeded", "failed", "cancelled")


def _unfinished_record(record: dict) -> bool:
    """A task record (it has a progress object) whose task has not reached a final state."""
    progress = record.get("progress")
    if not isinstance(progress, dict) or not isinstance(record.get("id"), str):
        return False
    return (progress.get("") or {}).get("status") not in FINAL


class FileStore(TaskStore):
    """One `<id>.json` per task in a directory; written to a temp file and renamed over the old one."""

    def __init__(self, directory: str | Path, ttl: int = 7 * 24 * 3600) -> None:
        super().__init__(ttl)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, task_id: str) -> Path:
        """The file of a task: a valid id (no `/`, no `..`, no leading dot) names a file of the directory only."""
        return self.directory / f"{validate_task_id(task_id, internal=True)}.json"

    def _read(self, task_id: str) -> dict | None:
        path = self.path_for(task_id)
        try:
            record = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:  # only after the machine itself crashed mid-write (see _write): the task died with it
            logger.warning("task record %s is not whole (a crash while it was written); taken as gone", path)
            return None
        return None if _expired(record) or not isinstance(record, dict) else record

    def _write(self, task_id: str, record: dict) -> None:
        """Temp file, then rename: readers see the old record or the new one, whole, never a mix.

        No fsync: a record is visible once renamed (on NFS too: the data is sent on close), and an fsync
        per progress change would cost milliseconds on every run. Only a crash of the whole machine could
        leave a record unreadable, and the agent writing it died with it then (a reader takes it as gone).
        """
        path = self.path_for(task_id)
        data = json.dumps(self._stamp(record), separators=(",", ":")).encode()
        temp = self.directory / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            temp.write_bytes(data)
            os.replace(temp, path)  # atomic on POSIX and on NFS within one directory
        finally:
            temp.unlink(missing_ok=True)

    def _purge(self) -> int:
        removed, now = 0, time.time()
        for path in self.directory.glob("*.json"):
            try:
                record = json.loads(path.read_bytes())
                if record.get("expires_at", float("inf")) < now:
                    path.unlink(missing_ok=True)
                    removed += 1
            except (OSError, ValueError):
                continue
        for temp in self.directory.glob(".*.tmp"):  # left by a process killed mid-write
            try:
                if temp.stat().st_mtime < now - 3600:
                    temp.unlink(missing_ok=True)
            except OSError:
                continue
        return removed

    def _unfinished(self) -> list[dict]:
        found = []
        for path in self.directory.glob("*.json"):
            if path.name.endswith(CANCEL_SUFFIX + ".json"):
                continue
            try:
                record = json.loads(path.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and not _expired(record) and _unfinished_record(record):
                found.append(record)
        return found

    async def get(self, task_id: str) -> dict | None:
        return await asyncio.to_thread(self._read, task_id)

    async def put(self, task_id: str, record: dict) -> None:
        await asyncio.to_thread(self._write, task_id, record)

    async def unfinished(self) -> list[dict]:
        return await asyncio.to_thread(self._unfinished)

    async def delete(self, task_id: str) -> None:
        await asyncio.to_thread(self.path_for(task_id).unlink, True)

    async def purge_expired(self) -> int:
        return await asyncio.to_thread(self._purge)

    async def ping(self) -> None:
        if not os.access(self.directory, os.W_OK):
            raise OSError(f"the task store {self.directory} is not writable")


class RedisStore(TaskStore):
    """One key per task with a TTL; SET replaces the value atomically."""

    def __init__(self, url: str, ttl: int = 7 * 24 * 3600, prefix: str = REDIS_PREFIX) -> None:
        super().__init__(ttl)
        import redis.asyncio as redis  # only this store needs the Redis client

        self.prefix = prefix
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)

    def key(self, task_id: str) -> str:
        return self.prefix + validate_task_id(task_id, internal=True)

    async def get(self, task_id: str) -> dict | None:
        raw = await self.redis.get(self.key(task_id))
        return json.loads(raw) if raw else None

    async def put(self, task_id: str, record: dict) -> None:
        await self.redis.set(self.key(task_id), json.dumps(self._stamp(record)), ex=self.ttl)

    async def delete(self, task_id: str) -> None:
        await self.redis.delete(self.key(task_id))

    async def unfinished(self) -> list[dict]:
        found = []
        keys = [key async for key in self.redis.scan_iter(match=self.prefix + "*", count=500)]
        keys = [key for key in keys if not key.decode().endswith(CANCEL_SUFFIX)]
        for start in range(0, len(keys), 200):
            for raw in await self.redis.mget(keys[start : start + 200]):
                record = json.loads(raw) if raw else None
                if isinstance(record, dict) and _unfinished_record(record):
                    found.append(record)
        return found

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()


def database_settings(url: str) -> dict:
    """Django's DATABASES entry for a DATABASE_URL, as the web's settings make it (SQLite shared by processes)."""
    import environ  # django-environ: only the db:// store needs it

    database = environ.Env.db_url_config(url)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("OPTIONS", {}).update(
            {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
        )
    return database


def ensure_django() -> None:
    """Make Django's ORM usable for the db:// store, in whatever process the agent runs.

    Under the web's settings (`manage.py agent`, the tests) or a DJANGO_SETTINGS_MODULE, Django is set
    up as usual. Otherwise (`python -m comfyweb.agent`) Django is configured here with the least the
    AgentTask table needs: the DATABASE_URL database and the agent app.
    """
    # Imported here, not at the top: Django is an optional dependency of the agent, used only by this
    # store, so that the agent runs (file://, redis://) in a process that never imports or configures it.
    import django
    from django.apps import apps
    from django.conf import settings

    if apps.ready:
        return
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        url = os.environ.get("DATABASE_URL", "").strip()
        if not url:
            raise ValueError("the db:// task store needs DATABASE_URL (e.g. postgresql://user:pass@host/db)")
        settings.configure(
            DATABASES={"default": database_settings(url)},
            INSTALLED_APPS=["comfyweb.agent"],
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            USE_TZ=True,
            LOGGING_CONFIG=None,  # the agent's command line has set up logging
        )
    django.setup()


class DatabaseStore(TaskStore):
    """The `AgentTask` table through Django's ORM; one upsert statement per write.

    Django, asgiref and the model are imported inside the methods: the agent runs without Django, and
    only this store brings it in (after `ensure_django` configured it when no settings were given).
    """

    def __init__(self, ttl: int = 7 * 24 * 3600, using: str = "default") -> None:
        super().__init__(ttl)
        self.using = using
        ensure_django()  # a missing DATABASE_URL stops the agent at start, not at its first task

    def _get(self, task_id: str) -> dict | None:
        from django.db import close_old_connections

        from comfyweb.agent.models import AgentTask

        close_old_connections()
        row = AgentTask.objects.using(self.using).filter(task_id=validate_task_id(task_id, internal=True)).first()
        if row is None or _expired(row.record):
            return None
        return row.record

    def _put(self, task_id: str, record: dict) -> None:
        from django.db import close_old_connections

        from comfyweb.agent.models import AgentTask

        close_old_connections()
        stamped = self._stamp(record)
        row = AgentTask(
            task_id=validate_task_id(task_id, internal=True),
            record=stamped,
            status=(stamped.get("progress") or {}).get("", {}).get("status", ""),
            expires_at=stamped["expires_at"],
        )
        AgentTask.objects.using(self.using).bulk_create(
            [row], update_conflicts=True, unique_fields=["task_id"], update_fields=["record", "status", "expires_at"]
        )

    def _delete(self, task_id: str) -> None:
        from comfyweb.agent.models import AgentTask

        AgentTask.objects.using(self.using).filter(task_id=validate_task_id(task_id, internal=True)).delete()

    def _purge(self) -> int:
        from comfyweb.agent.models import AgentTask

        removed, _ = AgentTask.objects.using(self.using).filter(expires_at__lt=time.time()).delete()
        return removed

    def _unfinished(self) -> list[dict]:
        from django.db import close_old_connections

        from comfyweb.agent.models import AgentTask

        close_old_connections()
        rows = AgentTask.objects.using(self.using).exclude(status__in=FINAL).filter(expires_at__gte=time.time())
        return [row.record for row in rows if _unfinished_record(row.record)]

    def _ping(self) -> None:
        from django.db import close_old_connections, connections

        close_old_connections()
        with connections[self.using].cursor() as cursor:
            cursor.execute("SELECT 1")

    async def get(self, task_id: str) -> dict | None:
        from asgiref.sync import sync_to_async

        return await sync_to_async(self._get)(task_id)

    async def put(self, task_id: str, record: dict) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self._put)(task_id, record)

    async def delete(self, task_id: str) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self._delete)(task_id)

    async def purge_expired(self) -> int:
        from asgiref.sync import sync_to_async

        return await sync_to_async(self._purge)()

    async def unfinished(self) -> list[dict]:
        from asgiref.sync import sync_to_async

        return await sync_to_async(self._unfinished)()

    async def ping(self) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self._ping)()


def open_store(url: str, ttl: int = 7 * 24 * 3600) -> TaskStore:
    """The store named by `url` (see the module docstring)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url, ttl=ttl)
    if url in ("db", "database") or url.startswith(("db://", "database://")):
        alias = url.split("://", 1)[1] if "://" in url else ""
        return DatabaseStore(ttl=ttl, using=alias.strip("/") or "default")
    if url.startswith("file://"):
        return FileStore(url[len("file://") :], ttl=ttl)
    if "://" in url:
        raise ValueError(f"unknown task store {url!r}: use file://, redis:// or db://")
    return FileStore(url, ttl=ttl)
