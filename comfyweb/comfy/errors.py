"""Typed errors of the ComfyUI protocol client: callers decide by type, not by parsing text."""

from __future__ import annotations

from typing import Any


class ComfyError(Exception):
    """Anything that went wrong talking to ComfyUI."""


class ComfyUnavailable(ComfyError):
    """ComfyUI could not be reached, or closed the connection before answering."""


class ComfyTimeout(ComfyError):
    """ComfyUI did not answer (or a run did not finish) within the allowed time."""


class ComfyHTTPError(ComfyError):
    """ComfyUI answered with an unexpected HTTP status."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.method, self.path, self.status, self.body = method, path, status, body
        super().__init__(f"ComfyUI answered {status} to {method} {path}: {str(body)[:300]}")


class PromptValidationError(ComfyError):
    """ComfyUI refused a prompt (`POST /prompt` → 400); keeps ComfyUI's whole answer.

    `error` is ComfyUI's `{"type", "message", "details", "extra_info"}` and `node_errors` maps
    node ids to `{"errors": [...], "dependent_outputs": [...], "class_type": ...}`.
    """

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        parsed = body if isinstance(body, dict) else {}
        error = parsed.get("error")
        if not isinstance(error, dict):
            error = {"type": "invalid_prompt", "message": str(error or body)}
        self.error: dict = error
        node_errors = parsed.get("node_errors")
        self.node_errors: dict = node_errors if isinstance(node_errors, dict) else {}
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line naming the first failing node and input, for logs and users."""
        message = self.error.get("message") or "invalid prompt"
        details = self.error.get("details") or ""
        for node_id, node in self.node_errors.items():
            for item in node.get("errors") or []:
                extra = item.get("extra_info") or {}
                where = f"node {node_id} ({node.get('class_type', '?')})"
                if extra.get("input_name"):
                    where += f" input {extra['input_name']}"
                return f"{message}: {where}: {item.get('message', '')} {item.get('details', '')}".strip()
        return f"{message}: {details}" if details else message
