"""What the figures share: the workflow they run, statistics, and the Django side of a part."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

SAMPLER_NODE = "3"


def sampler_prompt(steps: int, seed: int = 7) -> dict:
    """A txt2img graph whose sampler sends one progress event per step (the emulator's step time)."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "any.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        SAMPLER_NODE: {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": [SAMPLER_NODE, 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "bench"}},
    }  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def scaled(count: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(count * scale))


POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")


def scaled_out_available() -> str:
    """'' when PostgreSQL and Redis answer (the scaled-out topology can be measured), else why not."""
    try:
        import psycopg
        import redis

        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


class Workspace:
    """A part's database, media and logs; `env` is what its child processes get.

    embedded: a fresh SQLite file and the in-memory channel layer (web and dispatcher in one process);
    scaled: a fresh PostgreSQL database and Redis as the channel layer (processes per role).
    """

    def __init__(self, topology: str, root: Path | None = None) -> None:
        self.topology = topology
        self.root = Path(root or tempfile.mkdtemp(prefix="bench-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.pg_name = ""
        self.env = {
            "EMBEDDED_DEV": "1",
            "MEDIA_ROOT": str(self.root / "media"),
            "LOG_LEVEL": "WARNING",
            "JOB_MAX_QUEUED_PER_VISITOR": "100000",
            "DJANGO_SETTINGS_MODULE": "comfyweb.settings",
        }
        if topology == "scaled":
            import psycopg
            import redis

            self.pg_name = f"comfyweb_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.pg_name}"')
            self.env["DATABASE_URL"] = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.pg_name}"
            self.env["REDIS_URL"] = REDIS_URL
            self.env["WEB_PROCESSES"] = "1"
            redis.Redis.from_url(REDIS_URL).flushdb()
        else:
            self.env["DATABASE_URL"] = f"sqlite:///{self.root / 'db.sqlite3'}"

    def setup_django(self) -> None:
        """Point this process's Django at the workspace and create the tables."""
        os.environ.update(self.env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def close(self) -> None:
        if self.pg_name:
            import psycopg
            from django.db import connections

            connections.close_all()
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)


def new_sessions(count: int) -> list[str]:
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for index in range(count):
        session = SessionStore()
        session["visitor"] = index
        session.create()
        keys.append(session.session_key)
    return keys


HELD = timedelta(days=1)


def held_jobs(steps: int, sessions: list[str], count: int) -> list:
    """`count` queued jobs (each its own seed: no cache hits), round-robin over the visitors' sessions,
    held back until `release_jobs`."""
    from django.utils import timezone

    from comfyweb.jobs.models import Job

    later = timezone.now() + HELD
    jobs = [
        Job(
            session_key=sessions[index % len(sessions)],
            template_title="bench",
            prompt=sampler_prompt(steps, seed=index),
            not_before=later,
        )
        for index in range(count)
    ]
    return Job.objects.bulk_create(jobs)


def release_jobs() -> None:
    from comfyweb.jobs.models import Job

    Job.objects.filter(status=Job.Status.QUEUED).update(not_before=None)


def final_count() -> int:
    from comfyweb.jobs.models import Job

    return Job.objects.filter(status__in=Job.FINAL_STATUSES).count()
