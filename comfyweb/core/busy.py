"""A request this process cannot take right now: answered 503 with Retry-After, never a 500.

Plain Python (no Django import): lower layers that run without the web app (the agent) raise it too;
the web's `comfyweb.core.middleware.BusyMiddleware` answers it.
"""

from __future__ import annotations


class ServerBusy(Exception):
    """Every slot for this kind of work is taken; the client should try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
