"""The agent's request errors and how they become answers: one exception type, one handler.

Anything the agent refuses or cannot find raises an `AgentError` (or a subclass) carrying its HTTP
status and fc-comfyui error type; Starlette's `exception_handlers` turn it into the envelope
`{"message": "<ErrorType>", "error": "<text>"}` (plus `Retry-After` on a 503), and `/api/run/ws` sends
the same envelope as its `error` frame. How a *task* ended is another matter (outcomes.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

RETRY_AFTER = "5"


class AgentError(Exception):
    """A refusal with its HTTP status and error type; `extra` are more fields of the envelope."""

    status = 500
    error_type = "InternalError"

    def __init__(self, message: str, status: int | None = None, error_type: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        self.extra = extra

    def envelope(self) -> dict:
        return {"message": self.error_type, "error": str(self), **self.extra}

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": RETRY_AFTER} if self.status == 503 else None


class RequestError(AgentError):
    """A problem with the caller's request (400 `RequestParamsError` unless said otherwise)."""

    status = 400
    error_type = "RequestParamsError"


def error_response(status: int, error_type: str, error: Any, headers: dict | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": error_type, "error": error, **extra}, status_code=status, headers=headers)


async def agent_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's exception handler for every AgentError raised by a route."""
    assert isinstance(exc, AgentError)
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers())


EXCEPTION_HANDLERS = {AgentError: agent_error_response}
