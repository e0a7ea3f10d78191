"""Configuration of the ComfyUI emulator."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

FAULT_KEYS = (
    "fail_node",  # node id that fails with execution_error
    "fail_class_type",  # class_type whose nodes fail with execution_error
    "drop_ws_after",  # close every socket after it was sent this many messages
    "stall_seconds",  # stop sending and hang the executor this long before a node runs
    "stall_at_node",  # node id where the stall happens (default: the first executed node)
    "exit_at_node",  # node id at which the process exits with os._exit (mid-run)
    "exit_mid_run",  # true: exit at the first executed node
)


@dataclass
class EmulatorConfig:
    """Everything the emulator needs; defaults suit tests (temporary folders, fast steps)."""

    host: str = "127.0.0.1"
    port: int = 8188
    step_ms: int = 50
    strict: bool = False
    preview_method: str = "none"  # like ComfyUI's --preview-method: anything else sends a preview per sampler step
    output_dir: Path | None = None
    input_dir: Path | None = None
    temp_dir: Path | None = None
    faults: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = None
        if self.output_dir is None or self.input_dir is None or self.temp_dir is None:
            base = Path(tempfile.mkdtemp(prefix="comfy-emulator-"))
        self.output_dir = Path(self.output_dir) if self.output_dir else base / "output"
        self.input_dir = Path(self.input_dir) if self.input_dir else self.output_dir.parent / "input"
        self.temp_dir = Path(self.temp_dir) if self.temp_dir else self.output_dir.parent / "temp"
        for folder in (self.output_dir, self.input_dir, self.temp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        unknown = set(self.faults) - set(FAULT_KEYS)
        if unknown:
            raise ValueError(f"unknown fault switches: {sorted(unknown)}")
