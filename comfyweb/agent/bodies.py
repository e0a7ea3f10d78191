"""What the agent accepts in a request: plain functions from bytes and headers to a prompt and options.

* JSON only (`Content-Type: application/json` or a `+json` type), read no further than
  `AGENT_MAX_BODY_BYTES` (413 as soon as it is known to be larger);
* strict JSON: `NaN`, `Infinity` and numbers beyond a float (`1e400`) are refused, as no other JSON
  parser accepts them (400), and so is nesting deeper than `max_json_depth`;
* a prompt of at most `AGENT_MAX_NODES` nodes (413): ComfyUI holds a huge graph in memory and takes
  minutes to validate it, whatever the agent's timeouts say;
* options from the wrapped body's fields, the query or headers: `results`, `timeout`, `callback_url`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from comfyweb.agent.config import AgentSettings
from comfyweb.agent.errors import RequestError
from comfyweb.agent.stores import InvalidTaskId, validate_task_id
from comfyweb.agent.tasks import RunOptions
from comfyweb.comfy.prompt import InvalidPrompt, normalize_prompt

FALSE_WORDS = ("0", "false", "no", "off")


def flag(value: Any) -> bool:
    """A yes/no option as callers write it (`0`, `false`, `no`, `off` are no)."""
    return str(value).strip().lower() not in FALSE_WORDS


def json_depth_ok(value: Any, limit: int) -> bool:
    """False when `value` nests deeper than `limit` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


class NotStrictJson(ValueError):
    """A number JSON does not have (NaN, Infinity) or one no float holds."""


def _no_constant(name: str) -> float:
    raise NotStrictJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJson(f"the number {text[:40]} is too large")
    return value


def parse_json(raw: bytes | str, max_depth: int = 64) -> Any:
    """The body as JSON, strictly (RFC 8259 numbers only); RequestError says what is wrong."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except NotStrictJson as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RequestError("the JSON body nests too deeply") from exc
    except ValueError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from exc
    if not json_depth_ok(value, max_depth):
        raise RequestError(f"the JSON body nests deeper than {max_depth} levels")
    return value


def check_node_count(count: int, settings: AgentSettings) -> None:
    if count > settings.max_nodes:
        raise RequestError(
            f"the workflow has {count} nodes; this agent takes at most {settings.max_nodes} (AGENT_MAX_NODES)",
            status=413,
        )


def parse_prompt(body: Any, settings: AgentSettings) -> dict:
    """An API-format prompt from the body (bare or `{"prompt": {...}}`), within the node cap."""
    candidate = body.get("prompt") if isinstance(body, dict) and isinstance(body.get("prompt"), dict) else body
    if isinstance(candidate, dict):
        check_node_count(len(candidate), settings)  # before looking at each node
    try:
        return normalize_prompt(body)
    except InvalidPrompt as exc:
        raise RequestError(str(exc)) from exc


def task_id_from(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return validate_task_id(value)
    except InvalidTaskId as exc:
        raise RequestError(str(exc)) from exc


def run_options(settings: AgentSettings, query: dict, headers: dict, body: Any) -> RunOptions:
    """Results flag, timeout and callback URL from the query, headers or the wrapped body's fields."""
    fields = body if isinstance(body, dict) and isinstance(body.get("prompt") or body.get("workflow"), dict) else {}
    results = settings.results_default
    for source in (fields.get("results"), query.get("results"), headers.get("x-agent-results")):
        if source is not None:
            results = source if isinstance(source, bool) else flag(source)
    timeout = settings.timeout
    raw_timeout = fields.get("timeout") or query.get("timeout") or headers.get("x-task-timeout")
    if raw_timeout is not None:
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError) as exc:
            raise RequestError("timeout must be a number of seconds") from exc
        if not math.isfinite(timeout) or timeout <= 0:
            raise RequestError("timeout must be a positive number of seconds")
        timeout = min(timeout, settings.max_timeout)
    callback = fields.get("callback_url") or headers.get("x-callback-url")
    if callback is not None and not isinstance(callback, str):
        raise RequestError("callback_url must be a URL")
    return RunOptions(results=results, timeout=timeout, callback_url=callback or None)


def is_json_type(content_type: str | None) -> bool:
    """`application/json` or a `+json` type, parameters aside (`; charset=utf-8`)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed `limit`: never more than `limit` is held."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"the body is larger than {limit} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise RequestError(f"the body is larger than {limit} bytes", status=413)
        body += chunk
    return bytes(body)
