"""Fixtures shared by every test package."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from bench.procs import free_port  # noqa: F401 - tests import it from here

# The suite is the loopback demo (README: EMBEDDED_DEV is on for `make run` and the tests), also when
# pytest runs without make: the processes it starts inherit it, and comfyweb.asgi imported here accepts
# the development key. Tests of the production refusal start processes with EMBEDDED_DEV=0 themselves.
if "EMBEDDED_DEV" not in os.environ:
    os.environ["EMBEDDED_DEV"] = "1"
    settings.EMBEDDED_DEV = True

# The picture check (NudeNet, ~0.3 s of CPU per image here) stays out of the suite's many jobs and of the
# processes it starts; tests/trust/ turns it on where it is what they test. The word list check stays on.
SUITE_CHECKS = "comfyweb.jobs.trust.words.WordListCheck"
if "MODERATION_CHECKS" not in os.environ:
    os.environ["MODERATION_CHECKS"] = SUITE_CHECKS
    settings.MODERATION_CHECKS = [SUITE_CHECKS]

FIXTURES = Path(__file__).parent / "fixtures"
SEED_DIR = FIXTURES / "seed"
TRANSCRIPTS_DIR = FIXTURES / "comfyui"

_SESSION_REDIS = None


def _is_xdist_controller(config) -> bool:
    """pytest-xdist's controlling process (`-n N`): it runs no test; each worker starts its own Redis."""
    return bool(getattr(config.option, "numprocesses", None)) and "PYTEST_XDIST_WORKER" not in os.environ


def pytest_configure(config) -> None:
    """Start the session's own Redis before any test module reads its URL (tests/services.py).

    One per test process: Redis pub/sub spans every database number of a server, so two workers on one
    server would hear each other's job updates.
    """
    global _SESSION_REDIS
    if os.environ.get("TEST_REDIS_URL") or not shutil.which("redis-server") or _is_xdist_controller(config):
        return
    from tests.services import RedisServer

    _SESSION_REDIS = RedisServer().start()
    os.environ["TEST_REDIS_URL"] = _SESSION_REDIS.url


def pytest_unconfigure(config) -> None:
    if _SESSION_REDIS is not None:
        _SESSION_REDIS.stop()
        os.environ.pop("TEST_REDIS_URL", None)


def load_fixture(relative: str):
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


@pytest.fixture
def couple_photo_prompt() -> dict:
    """The production couple-photo prompt from the seed."""
    return load_fixture("seed/couple_photo_prompt.json")


@pytest.fixture
def templates_sample() -> list:
    return load_fixture("seed/templates_sample.json")


@pytest.fixture
def progress_sample() -> dict:
    return load_fixture("seed/progress_sample.json")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits, /object_info answers and the queue order are remembered: each test starts with none."""
    from django.core.cache import cache

    from comfyweb.jobs.selectors import QUEUE_ORDER

    cache.clear()
    QUEUE_ORDER.forget()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Every test writes media into its own temporary folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def s3():
    """moto's S3 API on a free loopback port (tests/s3.py): create buckets, read what landed in them."""
    from tests.s3 import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
async def emulator(tmp_path):
    """A ComfyUI emulator on this test's event loop (fast steps, files under tmp_path)."""
    from comfyweb.emulator.inprocess import running_emulator

    async with running_emulator(step_ms=5, output_dir=tmp_path / "emulator" / "output") as handle:
        yield handle


@pytest.fixture
def emulator_thread(tmp_path):
    """A ComfyUI emulator in its own thread, for sync code and live-server tests."""
    from comfyweb.emulator.inprocess import EmulatorThread

    thread = EmulatorThread(step_ms=5, output_dir=tmp_path / "emulator-thread" / "output").start()
    yield thread
    thread.stop()


@pytest.fixture(params=["emulator", pytest.param("comfyui", marks=pytest.mark.comfyui)])
def comfy_url(request, tmp_path):
    """The base URL of a ComfyUI: the emulator always, a real one when REAL_COMFYUI_URL is set."""
    import os

    if request.param == "comfyui":
        url = os.environ.get("REAL_COMFYUI_URL")
        if not url:
            pytest.skip("REAL_COMFYUI_URL is not set")
        yield url.rstrip("/")
        return
    from comfyweb.emulator.inprocess import EmulatorThread

    thread = EmulatorThread(step_ms=5, output_dir=tmp_path / "comfy-url" / "output").start()
    yield thread.url
    thread.stop()
