"""Structured logs: every line of a job's life carries its job id (and the agent's task id)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys

import pytest

from comfyweb.core.logging import (
    JobContextFilter,
    JsonFormatter,
    TextFormatter,
    bind_job,
    bind_task,
    bound_ids,
)
from tests.deploy.descriptors import ROOT


@pytest.fixture
def capture():
    """A logger writing through the filter and a formatter into a buffer, like settings.LOGGING's handler."""
    buffers = []

    def make(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.addFilter(JobContextFilter())
        handler.setFormatter(formatter)
        logger = logging.getLogger(f"tests.deploy.logging.{len(buffers)}")
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.DEBUG)
        buffers.append(logger)
        return logger, buffer

    yield make
    for logger in buffers:
        logger.handlers = []


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_formatter_emits_valid_json_with_job_id_when_bound(capture):
    logger, buffer = capture(JsonFormatter())
    with bind_job("3f2a-job"):
        logger.info("job %s dispatched to %s", "3f2a-job", "gpu-1")
    (line,) = _lines(buffer)
    assert line["job_id"] == "3f2a-job"
    assert line["message"] == "job 3f2a-job dispatched to gpu-1"
    assert line["level"] == "INFO"
    assert line["logger"] == logger.name
    assert line["time"].endswith("+00:00")
    assert "task_id" not in line


def test_ids_are_left_out_when_nothing_is_bound(capture):
    logger, buffer = capture(JsonFormatter())
    logger.warning("worker started")
    (line,) = _lines(buffer)
    assert "job_id" not in line and "task_id" not in line
    assert bound_ids() == {}


def test_job_and_task_ids_together_and_unbound_after_the_block(capture):
    logger, buffer = capture(JsonFormatter())
    with bind_job(42), bind_task("task-7"):
        logger.info("running")
    logger.info("idle")
    running, idle = _lines(buffer)
    assert (running["job_id"], running["task_id"]) == ("42", "task-7")
    assert "job_id" not in idle and "task_id" not in idle


def test_explicit_extra_wins_over_the_bound_id(capture):
    logger, buffer = capture(JsonFormatter())
    with bind_job("outer"):
        logger.info("re-queued another job", extra={"job_id": "other"})
    assert _lines(buffer)[0]["job_id"] == "other"


def test_json_keeps_non_ascii_and_tracebacks_on_one_line(capture):
    logger, buffer = capture(JsonFormatter())
    with bind_job("j1"):
        try:
            raise RuntimeError("显存不足")
        except RuntimeError:
            logger.exception("工作流失败")
    raw = buffer.getvalue()
    assert raw.count("\n") == 1
    (line,) = _lines(buffer)
    assert line["message"] == "工作流失败" and "显存不足" in line["exc_info"] and line["job_id"] == "j1"
    assert "工作流失败" in raw  # not \u-escaped


def test_text_formatter_tags_the_line(capture):
    logger, buffer = capture(TextFormatter())
    with bind_job("j9"), bind_task("t9"):
        logger.info("finished")
    logger.info("plain")
    tagged, plain = buffer.getvalue().splitlines()
    assert tagged.endswith("finished [job=j9 task=t9]")
    assert plain.endswith("plain")


async def test_concurrent_jobs_keep_their_own_ids(capture):
    """Each asyncio task (one runner per job) sees only the id it bound."""
    logger, buffer = capture(JsonFormatter())
    both_bound = asyncio.Event()
    ready = []

    async def runner(job_id: str) -> None:
        with bind_job(job_id):
            ready.append(job_id)
            if len(ready) == 2:
                both_bound.set()
            await both_bound.wait()
            logger.info("progress of %s", job_id)
            await asyncio.to_thread(logger.info, "thread of %s", job_id)  # threads inherit the context

    await asyncio.gather(runner("a"), runner("b"))
    for line in _lines(buffer):
        assert line["message"].endswith(line["job_id"])
    assert len(_lines(buffer)) == 4


def test_binding_can_be_reset_without_a_with_block():
    binding = bind_task("t1")
    assert bound_ids() == {"task_id": "t1"}
    binding.reset()
    binding.reset()  # a second reset is harmless
    assert bound_ids() == {}


def _run_with_settings(log_format: str) -> subprocess.CompletedProcess:
    code = (
        "import django, logging; django.setup();"
        "from comfyweb.core.logging import bind_job;"
        "b = bind_job('job-1'); logging.getLogger('comfyweb.jobs').warning('claimed')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "comfyweb.settings", "LOG_FORMAT": log_format}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def test_settings_log_format_json_writes_json_lines():
    result = _run_with_settings("json")
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(raw) for raw in result.stderr.splitlines() if raw.startswith("{")]
    assert line["job_id"] == "job-1" and line["message"] == "claimed" and line["logger"] == "comfyweb.jobs"


def test_settings_default_is_plain_text_with_the_job_tag():
    result = _run_with_settings("text")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("WARNING comfyweb.jobs claimed [job=job-1]")


def test_settings_refuse_an_unknown_log_format():
    result = _run_with_settings("xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be text or json, not 'xml'" in result.stderr
