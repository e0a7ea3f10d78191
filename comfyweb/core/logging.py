"""Log lines that carry the job id and task id of the work they belong to.

A job's life crosses the web request that created it, the dispatcher, its runner, the GPU agent's
task and the agent's ComfyUI calls. Binding the ids once, where that work starts, puts them on
every line logged below it (also in threads started through asgiref, which copies the context):

    with bind_job(job.pk):          # the web side: runner, dispatcher, views
        ...
    with bind_task(task_id):        # the agent side: one /api/run task
        ...

`JobContextFilter` copies the bound ids onto each log record (as `job_id` / `task_id`);
`TextFormatter` appends them to plain lines and `JsonFormatter` writes one JSON object per line
(settings.LOGGING picks one with LOG_FORMAT).
"""

from __future__ import annotations

import contextvars
import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("comfyweb_job_id", default=None)
_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("comfyweb_task_id", default=None)

CONTEXT_FIELDS = ("job_id", "task_id")


class Binding:
    """One bound id: in effect from creation; `reset()` or leaving a `with` block restores the previous id."""

    def __init__(self, var: contextvars.ContextVar[str | None], value: object) -> None:
        self._var = var
        self._token: contextvars.Token | None = var.set(None if value is None else str(value))

    def reset(self) -> None:
        if self._token is None:
            return
        try:
            self._var.reset(self._token)
        except ValueError:  # reset from another context (e.g. another asyncio task): just clear it there
            self._var.set(None)
        self._token = None

    def __enter__(self) -> Binding:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()


def bind_job(job_id: object) -> Binding:
    """Tag every log line of the current context (asyncio task, request, thread) with this job id."""
    return Binding(_job_id, job_id)


def bind_task(task_id: object) -> Binding:
    """Tag every log line of the current context with this agent task id."""
    return Binding(_task_id, task_id)


def bound_ids() -> dict[str, str]:
    """The ids bound in the current context, e.g. to pass on to another service; unbound ones are left out."""
    ids = {"job_id": _job_id.get(), "task_id": _task_id.get()}
    return {key: value for key, value in ids.items() if value is not None}


class JobContextFilter(logging.Filter):
    """Copies the bound job/task ids onto each record; ids given with `extra=` win. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in bound_ids().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    return {key: str(value) for key in CONTEXT_FIELDS if (value := getattr(record, key, None)) is not None}


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message [job=… task=…]`: readable in a terminal, greppable by job id."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs: Any) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s", datefmt, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context_of(record)
        if not context:
            return line
        tags = " ".join(f"{key.removesuffix('_id')}={value}" for key, value in context.items())
        first, newline, rest = line.partition("\n")  # keep a traceback below the tagged line
        return f"{first} [{tags}]{newline}{rest}"


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line for log collectors: time, level, logger, message, job_id/task_id when bound."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """ISO 8601 in UTC, so lines from machines in different time zones sort and join."""
        if datefmt:
            return super().formatTime(record, datefmt)
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        for key in CONTEXT_FIELDS:  # null ids carry nothing: leave them out
            if log_data.get(key) is None:
                log_data.pop(key, None)


LOG_FORMATS = ("text", "json")


def logging_config(log_format: str, level: str, loggers: dict | None = None) -> dict:
    """The dictConfig of every process (web, workers, the agent): one console handler with the job
    context, as plain text or JSON lines. Raises ValueError for an unknown format."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be text or json, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"job_context": {"()": "comfyweb.core.logging.JobContextFilter"}},
        "formatters": {
            "text": {"()": "comfyweb.core.logging.TextFormatter"},
            "json": {"()": "comfyweb.core.logging.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["job_context"]},
        },
        "root": {"handlers": ["console"], "level": level or "INFO"},
        "loggers": loggers or {},
    }
