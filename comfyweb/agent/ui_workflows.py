"""UI-format workflows (ComfyUI's "Save") on `/api/run` and `/api/run/ws`, converted as ComfyUI's page would.

A body may be the workflow itself, or wrap it as `{"workflow": {...}}` (or `{"prompt": {...}}`) with the usual
options beside it. The conversion is comfyweb.comfy.workflow's, against this agent's own ComfyUI's
`/object_info` (which widget values are inputs depends on the node classes installed there); its warnings
(node classes this ComfyUI lacks, values the page would fill in when it queues) come back in the task's
`""` entry as `warnings`.

`/object_info` is large and slow for ComfyUI to build, so it is fetched once and kept, and fetched again
after ComfyUI may have restarted (with other custom nodes): when the supervisor restarts it, when the agent
found it unreachable (a run, the readiness probe), when a conversion meets node classes the kept copy lacks
(at most every `RECHECK_SECONDS`), and after `MAX_AGE_SECONDS` in any case.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from comfyweb.agent.bodies import check_node_count
from comfyweb.agent.config import AgentSettings
from comfyweb.agent.errors import AgentError, RequestError
from comfyweb.comfy.errors import ComfyError
from comfyweb.comfy.prompt import InvalidPrompt, normalize_prompt
from comfyweb.comfy.workflow import WorkflowConversionError, is_ui_workflow, to_api_prompt

MAX_AGE_SECONDS = 600.0
RECHECK_SECONDS = 10.0  # a conversion meeting unknown node classes fetches /object_info again at most this often
LACKING = ": this ComfyUI has no such node class."


def ui_workflow_of(body: Any) -> dict | None:
    """The UI workflow a request body carries (bare, or under `workflow` or `prompt`), else None."""
    if is_ui_workflow(body):
        return body
    if isinstance(body, dict):
        for key in ("workflow", "prompt"):
            if is_ui_workflow(body.get(key)):
                return body[key]
    return None


def node_count(workflow: dict) -> int:
    """The nodes of a workflow and of its subgraph definitions: what the conversion will walk."""
    definitions = workflow.get("definitions") if isinstance(workflow.get("definitions"), dict) else {}
    subgraphs = definitions.get("subgraphs") if isinstance(definitions.get("subgraphs"), list) else []
    inner = sum(len(graph.get("nodes") or []) for graph in subgraphs if isinstance(graph, dict))
    return len(workflow["nodes"]) + inner


class ObjectInfo:
    """This agent's ComfyUI's `/object_info`, kept between requests (see the module docstring)."""

    def __init__(self, fetch: Callable[[], Awaitable[dict]], recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.fetch = fetch
        self.recheck_seconds = recheck_seconds
        self._info: dict | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """ComfyUI may have restarted: fetch it again before the next conversion."""
        self._info = None

    async def get(self, *, older_than: float | None = None) -> dict:
        """The kept copy, fetched when there is none, it is too old, or it is older than `older_than` seconds."""
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if self._info is None or age > MAX_AGE_SECONDS or (older_than is not None and age > older_than):
                try:
                    self._info = await self.fetch()
                except ComfyError as exc:
                    raise AgentError(
                        f"ComfyUI's /object_info, needed to convert a UI workflow, could not be read: {exc}",
                        503,
                        "ComfyUIUnavailableError",
                    ) from exc
                self._fetched_at = time.monotonic()
            return self._info

    async def convert(self, workflow: dict, settings: AgentSettings) -> tuple[dict, list[str]]:
        """The API prompt and the warnings for `workflow`; RequestError (400, 413) when it cannot be one."""
        check_node_count(node_count(workflow), settings)
        prompt, warnings = await self._convert(workflow, await self.get())
        if any(warning.endswith(LACKING) for warning in warnings):  # installed since? look again, not too often
            prompt, warnings = await self._convert(workflow, await self.get(older_than=self.recheck_seconds))
        check_node_count(len(prompt), settings)
        try:
            return normalize_prompt(prompt), warnings
        except InvalidPrompt as exc:
            raise RequestError(f"the UI workflow gives no prompt ComfyUI could run: {exc}") from exc

    @staticmethod
    async def _convert(workflow: dict, object_info: dict) -> tuple[dict, list[str]]:
        try:
            return await asyncio.to_thread(to_api_prompt, workflow, object_info)  # CPU work, off the loop
        except WorkflowConversionError as exc:
            raise RequestError(f"the UI workflow cannot be converted: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise RequestError(f"the UI workflow is malformed: {type(exc).__name__}: {exc}") from exc
