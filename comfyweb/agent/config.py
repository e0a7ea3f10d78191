"""The agent's settings: every option from a command-line flag or an environment variable.

The agent is deployed as a container next to a ComfyUI (Docker, Kubernetes, Function Compute),
where environment variables are the usual way in; `python -m comfyweb.agent --help` shows the flags.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
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


PASSTHROUGH_MODES = ("api", "all", "none")
OUTPUTS_AFTER_READ = ("keep", "delete")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
MIN_TOKEN_LENGTH = 16  # on the network a token is all that stands between anyone and the GPU


def _record_ttl() -> int:
    """AGENT_RECORD_TTL, or its former name AGENT_TASK_TTL, or a day."""
    if os.environ.get("AGENT_RECORD_TTL", "").strip():
        return _int("AGENT_RECORD_TTL", AgentSettings.record_ttl)
    return _int("AGENT_TASK_TTL", AgentSettings.record_ttl)


def is_loopback_host(host: str) -> bool:
    """Whether listening on `host` keeps the agent to this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_problem(settings: AgentSettings) -> str | None:
    """Why the agent may not listen as configured: reachable from the network with nobody checking callers.

    A token of blanks is no token (settings strip it), and on the network a token must be long enough.
    """
    if settings.no_auth or is_loopback_host(settings.host):
        return None
    if not settings.token:
        return (
            f"the agent would listen on {settings.host} without a token: set AGENT_TOKEN (callers send "
            "'Authorization: Bearer <token>'), or pass --no-auth (AGENT_NO_AUTH=1) when the platform in front "
            "already authenticates every request, or listen on 127.0.0.1"
        )
    if len(settings.token) < MIN_TOKEN_LENGTH:
        return (
            f"AGENT_TOKEN is {len(settings.token)} characters long; on {settings.host} it must have at least "
            f"{MIN_TOKEN_LENGTH} (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return None


_BOOT = secrets.token_hex(3)  # tells a restarted container's process from its predecessor with the same pid


def _instance_id() -> str:
    """Unique per process: the host name, the pid (reused in a restarted container) and a random part."""
    return f"{os.uname().nodename}-{os.getpid()}-{_BOOT}"


def _host_id() -> str:
    """This machine as far as process ids mean anything: the host name and the pid namespace."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{os.uname().nodename}:{namespace}"


HOST_ID = _host_id()  # written into every record: a record's pid is meaningful only on the same HOST_ID


@dataclass(frozen=True)
class AgentSettings:
    """Everything one agent instance needs; `from_env()` reads the documented variables."""

    host: str = "127.0.0.1"  # the network only when told (AGENT_HOST=0.0.0.0 in the images), with a token
    port: int = 8189
    comfyui_url: str = "http://127.0.0.1:8188"
    store_url: str = "file://var/agent-tasks"
    comfyui_cmd: str = ""
    concurrency: int = 1
    token: str = ""
    no_auth: bool = False  # listen on the network without a token: the platform in front authenticates
    passthrough: str = "api"  # api: ComfyUI's API routes only | all: every path | none: no passthrough
    passthrough_ui: bool = False  # also ComfyUI's web UI (its page, assets, settings and user data routes)
    max_queue: int = 16  # tasks waiting for a slot; more → 503 + Retry-After
    record_ttl: int = 24 * 3600  # seconds a task's record (and its output files) are kept
    outputs_after_read: str = "keep"  # delete: a task's output files go once an answer carried them
    comfyui_input_dir: str = ""  # ComfyUI's input and output folders (found from ComfyUI when empty)
    comfyui_output_dir: str = ""
    state_dir: str = "var/agent-state"  # the agent's own files (the list of output files to delete)
    previews: bool = True  # live previews on /api/run/ws when ComfyUI sends them (?previews=0 turns off)
    egress_proxy: str = ""  # the only proxy outbound fetches use (environment proxy variables are ignored)
    cors_origins: tuple[str, ...] = ()
    timeout: float = 600.0  # default seconds per task (queue wait excluded)
    max_timeout: float = 3600.0  # bound on the per-request override
    stall_seconds: float = 300.0  # no word from ComfyUI this long while a task runs: fail it (0: never)
    max_body_bytes: int = 64 * 1024 * 1024
    max_json_depth: int = 64
    max_nodes: int = 5000  # nodes in one prompt (or UI workflow); more → 413 (ComfyUI stalls on huge graphs)
    allowed_hosts: tuple[str, ...] = ()  # Host names a loopback agent answers besides loopback ones
    comfyui_request_timeout: float = 30.0  # one HTTP request to ComfyUI (a run's own limit is its timeout)
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
    heartbeat_seconds: float = 5.0  # live tasks' records are rewritten at least this often
    orphan_seconds: float = 30.0  # a queued/running record silent this long belongs to a dead agent
    instance: str = field(default_factory=_instance_id)

    def __post_init__(self) -> None:
        # Blanks around a token are no part of it (a pasted newline); a token of blanks is no token.
        object.__setattr__(self, "token", (self.token or "").strip())

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
            allowed_hosts=_list("AGENT_ALLOWED_HOSTS"),
            no_auth=_bool("AGENT_NO_AUTH", cls.no_auth),
            passthrough=os.environ.get("AGENT_PASSTHROUGH", "").strip().lower() or cls.passthrough,
            passthrough_ui=_bool("AGENT_PASSTHROUGH_UI", cls.passthrough_ui),
            max_queue=_int("AGENT_MAX_QUEUE", cls.max_queue),
            record_ttl=_record_ttl(),
            outputs_after_read=os.environ.get("AGENT_OUTPUTS_AFTER_READ", "").strip().lower() or cls.outputs_after_read,
            comfyui_input_dir=os.environ.get("AGENT_COMFYUI_INPUT_DIR", "").strip(),
            comfyui_output_dir=os.environ.get("AGENT_COMFYUI_OUTPUT_DIR", "").strip(),
            state_dir=os.environ.get("AGENT_STATE_DIR", "").strip() or cls.state_dir,
            previews=_bool("AGENT_PREVIEWS", cls.previews),
            egress_proxy=os.environ.get("AGENT_EGRESS_PROXY", "").strip(),
            cors_origins=_list("AGENT_CORS_ORIGINS"),
            timeout=_float("AGENT_TIMEOUT", cls.timeout),
            max_timeout=_float("AGENT_MAX_TIMEOUT", cls.max_timeout),
            stall_seconds=_float("AGENT_STALL_SECONDS", cls.stall_seconds),
            max_body_bytes=_int("AGENT_MAX_BODY_BYTES", cls.max_body_bytes),
            max_nodes=_int("AGENT_MAX_NODES", cls.max_nodes),
            comfyui_request_timeout=_float("AGENT_COMFYUI_REQUEST_TIMEOUT", cls.comfyui_request_timeout),
            results_default=_bool("AGENT_RESULTS", cls.results_default),
            webhook_secret=os.environ.get("AGENT_WEBHOOK_SECRET", ""),
            warmup_prompt=os.environ.get("AGENT_WARMUP_PROMPT", ""),
            fetch_allow_hosts=_list("AGENT_FETCH_ALLOW_HOSTS"),
            image_inputs=parse_image_inputs(os.environ.get("AGENT_IMAGE_INPUTS", "")),
            max_image_bytes=_int("UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES),
            max_image_pixels=_int("UPLOAD_MAX_PIXELS", DEFAULT_MAX_PIXELS),
        )
        settings = replace(base, **{key: value for key, value in overrides.items() if value is not None})
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ValueError naming a setting whose value the agent cannot run with."""
        if self.passthrough not in PASSTHROUGH_MODES:
            raise ValueError(
                f"AGENT_PASSTHROUGH must be one of {', '.join(PASSTHROUGH_MODES)}, not {self.passthrough!r}"
            )
        if self.outputs_after_read not in OUTPUTS_AFTER_READ:
            raise ValueError(f"AGENT_OUTPUTS_AFTER_READ must be keep or delete, not {self.outputs_after_read!r}")
        if self.record_ttl < 60:
            raise ValueError("AGENT_RECORD_TTL must be at least 60 seconds")
        if self.max_nodes < 1:
            raise ValueError("AGENT_MAX_NODES must be at least 1")
        if self.comfyui_request_timeout <= 0:
            raise ValueError("AGENT_COMFYUI_REQUEST_TIMEOUT must be a positive number of seconds")

    def input_policy(self) -> InputPolicy:
        return InputPolicy(
            image_inputs=self.image_inputs,
            max_bytes=self.max_image_bytes,
            max_pixels=self.max_image_pixels,
            fetch_timeout=self.fetch_timeout,
            allow_hosts=frozenset(self.fetch_allow_hosts),
            egress_proxy=self.egress_proxy or None,
        )

    def warmup(self) -> Path | None:
        return Path(self.warmup_prompt) if self.warmup_prompt else None
