"""How a task ended, and what that means for HTTP callers.

One table, used by `/api/run` (status code and error envelope), the WebSocket's last frame
and the metrics. `kind` is stored in the `""` entry's `error` so that an instance that did
not run a task (a follower through the shared store) answers exactly as the one that did.

| kind | HTTP | `message` | metric outcome | when |
| --- | --- | --- | --- | --- |
| succeeded | 200 | – | succeeded | every output written |
| validation | 400 | CallComfyUIPromptError | rejected | ComfyUI refused the prompt (its `error`, `node_errors`) |
| input | 400 | RequestParamsError | rejected | an input image URL/base64 was refused (SSRF, size, not an image) |
| execution | 500 | ComfyUIExecutionError | failed | a node raised (`execution_error`); the body carries the progress |
| cancelled | 409 | TaskCancelledError | cancelled | `DELETE /api/run?id=` (or ComfyUI's own interrupt) |
| timeout | 504 | TaskTimeoutError | timeout | the task ran longer than its timeout (ComfyUI is interrupted) |
| unavailable | 503 | ComfyUIUnavailableError | failed | ComfyUI could not be reached |
| crashed | 502 | ComfyUICrashedError | failed | the supervised ComfyUI died during the run |
| stalled | 502 | ComfyUIStalledError | failed | no word from ComfyUI for `AGENT_STALL_SECONDS` |
| lost | 502 | ComfyUILostTaskError | failed | ComfyUI forgot the prompt (restarted behind the agent's back) |
| restarted | 502 | AgentRestartedError | failed | the agent process running it died (`agent restarted`: run it again) |
| shutdown | 503 | AgentStoppedError | failed | the agent stopped while the task was in flight |
| internal | 500 | InternalError | failed | a bug or an unexpected ComfyUI answer |
"""

from __future__ import annotations

from dataclasses import dataclass

from comfyweb.comfy.progress import CANCELLED, FAILED, SUCCEEDED


@dataclass(frozen=True)
class Outcome:
    kind: str
    http_status: int
    error_type: str | None
    metric: str


OUTCOMES = {
    "succeeded": Outcome("succeeded", 200, None, "succeeded"),
    "validation": Outcome("validation", 400, "CallComfyUIPromptError", "rejected"),
    "input": Outcome("input", 400, "RequestParamsError", "rejected"),
    "execution": Outcome("execution", 500, "ComfyUIExecutionError", "failed"),
    "cancelled": Outcome("cancelled", 409, "TaskCancelledError", "cancelled"),
    "timeout": Outcome("timeout", 504, "TaskTimeoutError", "timeout"),
    "unavailable": Outcome("unavailable", 503, "ComfyUIUnavailableError", "failed"),
    "crashed": Outcome("crashed", 502, "ComfyUICrashedError", "failed"),
    "stalled": Outcome("stalled", 502, "ComfyUIStalledError", "failed"),
    "lost": Outcome("lost", 502, "ComfyUILostTaskError", "failed"),
    "restarted": Outcome("restarted", 502, "AgentRestartedError", "failed"),
    "shutdown": Outcome("shutdown", 503, "AgentStoppedError", "failed"),
    "internal": Outcome("internal", 500, "InternalError", "failed"),
}

RESTARTED_MESSAGE = "agent restarted"  # the error of a task whose agent process died: nothing runs it any more

# ComfyUI's own error types (from progress folding) → our kinds.
COMFY_ERROR_KINDS = {"execution_error": "execution", "execution_interrupted": "cancelled", "deleted": "lost"}

# The kinds that end a task as `cancelled` rather than `failed`.
CANCELLED_KINDS = frozenset({"cancelled"})


def outcome_of(progress: dict) -> Outcome:
    """The outcome of a finished progress object (its `""` status and error)."""
    task = progress.get("") or {}
    if task.get("status") == SUCCEEDED:
        return OUTCOMES["succeeded"]
    error = task.get("error") or {}
    kind = error.get("kind") or COMFY_ERROR_KINDS.get(error.get("type", ""))
    if kind is None:
        kind = "cancelled" if task.get("status") == CANCELLED else "internal"
    return OUTCOMES.get(kind, OUTCOMES["internal"])


def status_for_kind(kind: str) -> str:
    if kind == "succeeded":
        return SUCCEEDED
    return CANCELLED if kind in CANCELLED_KINDS else FAILED


def error_envelope(progress: dict) -> dict:
    """`{"message": <ErrorType>, "error": ..., "progress": ...}` for a task that did not succeed.

    For a validation error `error` is ComfyUI's answer (`{"error": {...}, "node_errors": {...}}`),
    as the fc-comfyui agent forwards it; otherwise the `""` entry's error object.
    """
    outcome = outcome_of(progress)
    error = dict((progress.get("") or {}).get("error") or {})
    if outcome.kind == "validation":
        node_errors = error.pop("node_errors", {})
        error.pop("kind", None)
        body: object = {"error": error, "node_errors": node_errors}
    else:
        body = error
    return {"message": outcome.error_type or "InternalError", "error": body, "progress": progress}
