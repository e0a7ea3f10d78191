"""Why a job failed: a structured record for operators, a short sentence for visitors.

Every failed or cancelled job stores an error record in `Job.error_detail`:
`{"code", "node_id", "node_class", "message", "detail"}`. `code` is one of CODES; `message` is
ComfyUI's (or the agent's) own text and `detail` anything an operator may need (the input that was
refused, the exception type); neither is ever shown to visitors. Visitors read `visitor_message`,
a sentence chosen by the code, in their own language, when the page or API answer is made.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

CANCELLED = "cancelled"
TIMEOUT = "timeout"
NO_BACKEND = "no_backend"
INTERRUPTED = "interrupted"
MISSING_NODE = "missing_node"
MISSING_MODEL = "missing_model"
BAD_INPUT = "bad_input"
INVALID_VALUES = "invalid_values"
EXECUTION = "execution"
NO_OUTPUT = "no_output"
UNKNOWN = "unknown"

VISITOR_MESSAGES = {
    CANCELLED: _("Cancelled."),
    TIMEOUT: _("This took too long and was stopped. Please try again."),
    NO_BACKEND: _("No GPU server could make this image just now. Please try again in a while."),
    INTERRUPTED: _("The GPU server stopped while making this image. Please try again."),
    MISSING_NODE: _("This template needs a node the GPU server does not have."),
    MISSING_MODEL: _("This template needs a model the GPU server does not have."),
    BAD_INPUT: _("The photo could not be read. Please choose another one."),
    INVALID_VALUES: _("The GPU server did not accept one of the chosen values."),
    EXECUTION: _("Something went wrong while making this image."),
    NO_OUTPUT: _("The workflow finished without any image."),
    UNKNOWN: _("Sorry, something went wrong while making this image."),
}
CODES = tuple(VISITOR_MESSAGES)

IMAGE_LOADERS = {"LoadImage", "LoadImageMask", "LoadImageOutput"}
MODEL_INPUT_SUFFIX = "_name"  # ckpt_name, lora_name, vae_name, unet_name, clip_name, control_net_name…
AGENT_TYPES = {  # the agent's error types (fc-comfyui's `message`) → codes
    "RequestParamsError": BAD_INPUT,
    "TaskCancelledError": CANCELLED,
    "TaskTimeoutError": TIMEOUT,
    "ComfyUIUnavailableError": NO_BACKEND,
    "ComfyUICrashedError": INTERRUPTED,
    "ComfyUIStalledError": INTERRUPTED,
    "ComfyUILostTaskError": INTERRUPTED,
    "AgentStoppedError": INTERRUPTED,
}


def error_record(
    code: str, *, message: str = "", node_id: str | None = None, node_class: str | None = None, detail: str = ""
) -> dict:
    return {"code": code, "node_id": node_id, "node_class": node_class, "message": message, "detail": detail}


def _validation_record(error: dict, node_errors: dict) -> dict:
    """ComfyUI refused the prompt: name the first node it complained of, and why in visitors' terms."""
    message = str(error.get("message") or "")
    if not node_errors:
        code = MISSING_NODE if "does not exist" in message else INVALID_VALUES
        return error_record(code, message=message, detail=str(error.get("details") or ""))
    node_id, entry = next(iter(node_errors.items()))
    first = (entry.get("errors") or [{}])[0]
    node_class = entry.get("class_type")
    input_name = str((first.get("extra_info") or {}).get("input_name") or "")
    if node_class in IMAGE_LOADERS:
        code = BAD_INPUT
    elif first.get("type") == "value_not_in_list" and input_name.endswith(MODEL_INPUT_SUFFIX):
        code = MISSING_MODEL
    else:
        code = INVALID_VALUES
    return error_record(
        code,
        node_id=str(node_id),
        node_class=node_class,
        message=str(first.get("message") or message),
        detail=str(first.get("details") or ""),
    )


def classify(error: dict | None) -> dict:
    """The record for an error as a runner got it: ComfyUI's validation answer or `execution_error`,
    an agent's error frame (`type` = its error type), or one of ours (already carrying `code`)."""
    if not error:
        return error_record(UNKNOWN)
    if error.get("code") in CODES:
        return error_record(
            error["code"],
            message=str(error.get("message") or ""),
            node_id=error.get("node_id"),
            node_class=error.get("node_class"),
            detail=str(error.get("detail") or ""),
        )
    kind = str(error.get("type") or "")
    nested = error.get("error") if isinstance(error.get("error"), dict) else {}
    if isinstance(error.get("node_errors"), dict) or kind in ("CallComfyUIPromptError", "invalid_prompt"):
        return _validation_record(nested or error, error.get("node_errors") or {})
    if kind in AGENT_TYPES:
        return error_record(AGENT_TYPES[kind], message=str(error.get("message") or ""))
    if error.get("node_id") or kind in ("execution_error", "ComfyUIExecutionError"):
        return error_record(
            EXECUTION,
            node_id=str(error["node_id"]) if error.get("node_id") is not None else None,
            node_class=error.get("node_type"),
            message=str(error.get("exception_message") or error.get("message") or "").strip(),
            detail=str(error.get("exception_type") or ""),
        )
    if kind == "execution_interrupted":
        return error_record(CANCELLED)
    return error_record(UNKNOWN, message=str(error.get("message") or kind))


def operator_summary(record: dict) -> str:
    """One line for the admin and the logs: the node and ComfyUI's own words."""
    node = f"{record.get('node_class') or '?'} ({record['node_id']}): " if record.get("node_id") else ""
    text = record.get("message") or ""
    if record.get("detail"):
        text = f"{text} — {record['detail']}" if text else record["detail"]
    return f"[{record.get('code')}] {node}{text}"[:2000]


def stored_fields(record: dict) -> dict:
    """The Job fields that hold an error: the operator's one line and the record itself."""
    return {"error": operator_summary(record), "error_detail": record}


def visitor_message(record: dict | None) -> str:
    """The sentence visitors read, in the active language."""
    return str(VISITOR_MESSAGES.get((record or {}).get("code"), VISITOR_MESSAGES[UNKNOWN]))


def visitor_error(record: dict | None) -> dict | None:
    """The error as pages and the REST API give it: what happened in visitors' words, and where."""
    if record is None:
        return None
    return {
        "code": record.get("code", UNKNOWN),
        "message": visitor_message(record),
        "node_id": record.get("node_id"),
        "node_class": record.get("node_class"),
    }
