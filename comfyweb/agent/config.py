"""The agent's settings: every option from a command-line flag or an environment variable.

The agent is deployed as a container next to a ComfyUI (Docker, Kubernetes, Function Compute),
where environment variables are the usual way in; `python -m comfyweb.agent --help` shows the flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from comfyweb.comfy.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from comfyweb.comfy.inputs import DEFAULT_IMAGE_INPUTS, InputPolicy


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


def _list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


def parse_image_inputs(value: str) -> frozenset[tuple[str, str]]:
    """`"LoadImage.image,LoadImageMask.image"` → {("LoadImage", "image"), ...}; empty → the default."""
    pairs = set()
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        class_type, _, key = item.rpartition(".")
        if not class_type or not key:
            raise ValueError(f"image input {item!r} must look like ClassType.input")
        pairs.add((class_type, key))
    return frozenset(pairs) or DEFAULT_IMAGE_INPUTS


@dataclass(frozen=True)
class AgentSettings:
    """Everything one agent instance needs; `from_env()` reads the documented variables."""

    host: str = "0.0.0.0"  # noqa: S104 - the agent is the container's front door
    port: int = 8189
    comfyui_url: str = "http://127.0.0.1:8188"
    store_url: str = "file://var/agent-tasks"
    comfyui_cmd: str = ""
    concurrency: int = 1
    token: str = ""
    max_queue: int = 16  # tasks waiting for a slot; more → 503 + Retry-After
    task_ttl: int = 7 * 24 * 3600  # seconds a finished task stays readable
    cors_origins: tuple[str, ...] = ()
    timeout: float = 600.0  # default seconds per task (queue wait excluded)
    max_timeout: float = 3600.0  # bound on the per-request override
    stall_seconds: float = 300.0  # no word from ComfyUI this long while a task runs: fail it (0: never)
    max_body_bytes: int = 64 * 1024 * 1024
    max_json_depth: int = 64
    comfyui_request_timeout: float = 30.0
    results_default: bool = True
    webhook_secret: str = ""
    webhook_retry_delay: float = 1.0
    warmup_prompt: str = ""  # path of an API-format prompt run once at start
    fetch_allow_hosts: tuple[str, ...] = ()
    image_inputs: frozenset[tuple[str, str]] = DEFAULT_IMAGE_INPUTS
    max_image_bytes: int = DEFAULT_MAX_BYTES
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    fetch_timeout: float = 20.0
    supervisor_start_timeout: float = 300.0
    instance: str = field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")

    @classmethod
    def from_env(cls, **overrides: object) -> AgentSettings:
        """Settings from the environment; `overrides` (command-line flags) win when not None."""
        base = cls(
            host=os.environ.get("AGENT_HOST", cls.host),
            port=_int("AGENT_PORT", cls.port),
            comfyui_url=os.environ.get("COMFYUI_URL") or cls.comfyui_url,
            store_url=os.environ.get("AGENT_STORE") or cls.store_url,
            comfyui_cmd=os.environ.get("AGENT_COMFYUI_CMD", ""),
            concurrency=_int("AGENT_CONCURRENCY", cls.concurrency),
            token=os.environ.get("AGENT_TOKEN", ""),
            max_queue=_int("AGENT_MAX_QUEUE", cls.max_queue),
            task_ttl=_int("AGENT_TASK_TTL", cls.task_ttl),
            cors_origins=_list("AGENT_CORS_ORIGINS"),
            timeout=_float("AGENT_TIMEOUT", cls.timeout),
            max_timeout=_float("AGENT_MAX_TIMEOUT", cls.max_timeout),
            stall_seconds=_float("AGENT_STALL_SECONDS", cls.stall_seconds),
            max_body_bytes=_int("AGENT_MAX_BODY_BYTES", cls.max_body_bytes),
            results_default=_bool("AGENT_RESULTS", cls.results_default),
            webhook_secret=os.environ.get("AGENT_WEBHOOK_SECRET", ""),
            warmup_prompt=os.environ.get("AGENT_WARMUP_PROMPT", ""),
            fetch_allow_hosts=_list("AGENT_FETCH_ALLOW_HOSTS"),
            image_inputs=parse_image_inputs(os.environ.get("AGENT_IMAGE_INPUTS", "")),
            max_image_bytes=_int("UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES),
            max_image_pixels=_int("UPLOAD_MAX_PIXELS", DEFAULT_MAX_PIXELS),
        )
        return replace(base, **{key: value for key, value in overrides.items() if value is not None})

    def input_policy(self) -> InputPolicy:
        return InputPolicy(
            image_inputs=self.image_inputs,
            max_bytes=self.max_image_bytes,
            max_pixels=self.max_image_pixels,
            fetch_timeout=self.fetch_timeout,
            allow_hosts=frozenset(self.fetch_allow_hosts),
        )

    def warmup(self) -> Path | None:
        return Path(self.warmup_prompt) if self.warmup_prompt else None
