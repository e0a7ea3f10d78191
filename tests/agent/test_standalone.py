"""`python -m comfyweb.agent` as deployed: a real process, no DJANGO_SETTINGS_MODULE, Django settings never configured.

The agent process gets a `sitecustomize` (through PYTHONPATH) that makes importing the web's settings
(`comfyweb.settings`) fail, and that writes, several times a second, what the process has imported:
the report says whether Django was imported and whether its settings were configured, without any
debug route in the agent itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import BASE_DIR, manage, stop, wait_for_http
from tests.prompts import sampler_workflow

TRAP = """
import importlib.abc, json, os, sys, threading, time


class RefuseWebSettings(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "comfyweb.settings":
            raise ImportError("the agent process imported the web's settings")
        return None


sys.meta_path.insert(0, RefuseWebSettings())


def report():
    conf = sys.modules.get("django.conf")
    configured = bool(conf is not None and conf.settings.configured)
    return {
        "django_imported": "django" in sys.modules,
        "settings_configured": configured,
        "installed_apps": list(conf.settings.INSTALLED_APPS) if configured else None,
        "web_settings_imported": "comfyweb.settings" in sys.modules,
        "uvicorn_imported": "uvicorn" in sys.modules,
        "daphne_imported": "daphne" in sys.modules or "twisted" in sys.modules,
    }


def write_reports(path):
    while True:
        try:  # a module half-imported at this instant raises: try again at the next tick
            state = report()
        except Exception:
            state = None
        if state is not None:
            with open(path + ".tmp", "w") as handle:
                json.dump(state, handle)
            os.replace(path + ".tmp", path)
        time.sleep(0.1)


if os.environ.get("AGENT_TEST_REPORT"):
    threading.Thread(target=write_reports, args=(os.environ["AGENT_TEST_REPORT"],), daemon=True).start()
"""


def standalone_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment without anything Django: no settings module, the trap on PYTHONPATH."""
    trap = tmp_path / "trap"
    trap.mkdir(exist_ok=True)
    (trap / "sitecustomize.py").write_text(TRAP, encoding="utf-8")
    dropped = ("DJANGO_SETTINGS_MODULE", "EMBEDDED_DEV", "DATABASE_URL", "PYTHONPATH")
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(PYTHONPATH=str(trap), AGENT_TEST_REPORT=str(tmp_path / "report.json"), **extra)
    return env


def start(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (tmp_path / f"agent-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "comfyweb.agent", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/health", process=process)
    except RuntimeError:
        stop(process)
        raise AssertionError((tmp_path / f"agent-{port}.log").read_text(encoding="utf-8")) from None
    return process, url


def read_report(tmp_path: Path) -> dict:
    """The first report written after this call (so after what the test did before it)."""
    path, since = tmp_path / "report.json", time.time()
    for _ in range(1200):
        time.sleep(0.05)
        if path.exists() and path.stat().st_mtime > since:
            return json.loads(path.read_text(encoding="utf-8"))
    raise AssertionError("the agent process wrote no report")


def test_help_works_without_django_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "comfyweb.agent", "--help"],
        cwd=BASE_DIR, env=standalone_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for flag in ("--host", "--port", "--comfyui-url", "--store", "--comfyui-cmd", "--concurrency"):
        assert flag in result.stdout


def test_the_trap_refuses_the_web_settings(tmp_path):
    """The check below has teeth: a process that loads the web's settings fails."""
    env = {**standalone_env(tmp_path), "DJANGO_SETTINGS_MODULE": "comfyweb.settings"}
    code = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0 and "imported the web's settings" in result.stderr


def test_agent_serves_a_prompt_with_a_file_store_and_never_touches_django(tmp_path, emulator_thread):
    env = standalone_env(tmp_path)
    process, url = start(tmp_path, "--comfyui-url", emulator_thread.url, "--store", f"file://{tmp_path / 'tasks'}",
                         env=env)  # fmt: skip
    try:
        assert httpx.get(f"{url}/api/health", timeout=5).json() == {"status": "ok"}
        answer = httpx.post(f"{url}/api/run", json=sampler_workflow(steps=3), headers={"task-id": "alone"}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()[""]["status"] == "succeeded" and answer.json()["9"]["results"]
        assert (tmp_path / "tasks" / "alone.json").exists()
        report = read_report(tmp_path)
    finally:
        stop(process)
    assert report["uvicorn_imported"] and not report["daphne_imported"]
    assert not report["web_settings_imported"] and not report["settings_configured"]
    assert not report["django_imported"], "the file:// store needs no Django at all"


def test_the_db_store_configures_django_itself_from_database_url(tmp_path, emulator_thread):
    database = tmp_path / "agent.sqlite3"
    database_url = f"sqlite:///{database}"
    migrate = manage("migrate", "agent", env={"DATABASE_URL": database_url}, stdout=subprocess.DEVNULL)
    assert migrate.wait(120) == 0  # the table comes from the web's migrations, as documented
    env = standalone_env(tmp_path, DATABASE_URL=database_url)
    process, url = start(tmp_path, "--comfyui-url", emulator_thread.url, "--store", "db://", env=env)
    task_id = f"db-{uuid.uuid4().hex[:8]}"
    try:
        answer = httpx.post(f"{url}/api/run", json=sampler_workflow(steps=3), headers={"task-id": task_id}, timeout=60)
        assert answer.status_code == 200, answer.text
        status = httpx.get(f"{url}/api/status", params={"id": task_id}, timeout=10).json()
        assert status[""]["status"] == "succeeded"
        report = read_report(tmp_path)
    finally:
        stop(process)
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT status FROM agent_agenttask WHERE task_id = ?", (task_id,)).fetchall()
    assert rows == [("succeeded",)]
    assert not report["web_settings_imported"]
    assert report["settings_configured"] and report["installed_apps"] == ["comfyweb.agent"]


@pytest.mark.parametrize(("env", "message"), [
    ({"AGENT_STORE": "db://"}, "the db:// task store needs DATABASE_URL"),
    ({"AGENT_PORT": "eighty"}, "AGENT_PORT must be a whole number, not 'eighty'"),
    ({"AGENT_CONCURRENCY": "0"}, "--concurrency must be at least 1"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be text or json, not 'xml'"),
])  # fmt: skip
def test_bad_settings_stop_the_agent_with_a_message(tmp_path, env, message):
    result = subprocess.run(
        [sys.executable, "-m", "comfyweb.agent", "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=BASE_DIR, env=standalone_env(tmp_path, **env), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr
