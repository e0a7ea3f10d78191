"""A tidy disk: the agent deletes the input pictures it uploaded and, later, the outputs of its tasks.

ComfyUI keeps every upload in its input folder and every picture in its output folder for ever; on a
long-lived GPU instance (or a NAS shared by many) that grows without bound. The agent deletes:

* **inputs** it uploaded for a task (named by content hash, `cw_<sha256>.<ext>`, so two tasks can
  share one), as soon as no queued or running task of this agent uses them;
* **outputs** of its tasks when the task's record expires (`AGENT_RECORD_TTL`, a day by default:
  asynchronous fc-comfyui clients fetch them through `/view` after polling `/api/status`), or as
  soon as a synchronous or WebSocket answer carried them with `--outputs-after-read delete`.

Deletion only ever touches files the agent created inside ComfyUI's input and output folders:

* an input must have the agent's own upload name, sit directly in the input folder and be a regular file;
* an output must be one ComfyUI reported for the agent's own prompt, inside the output folder with no
  symbolic link on the way (`..` or a link out of the folder is refused), a regular file written after
  the task started; its identity (device, inode, size, modification time) is noted then and must
  still match when it is deleted, so a file put in its place later is left alone.

Outputs waiting for their time are listed in a small ledger under `AGENT_STATE_DIR` (one JSON object
a line, rewritten under a lock), so a restarted agent still deletes what its predecessor wrote.

The folders come from `AGENT_COMFYUI_INPUT_DIR` / `AGENT_COMFYUI_OUTPUT_DIR`, or, for a ComfyUI on
this machine (a loopback URL), from ComfyUI's own command line in `/system_stats` (`--input-directory`,
`--output-directory`, `--base-directory`, or the folder of an absolute `main.py`). Unknown folders
mean nothing is deleted (a warning says so once).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from comfyweb.agent.config import is_loopback_host
from comfyweb.comfy.client import ComfyClient
from comfyweb.comfy.errors import ComfyError
from comfyweb.comfy.inputs import UPLOAD_NAME

logger = logging.getLogger(__name__)

DISCOVERY_RETRY_SECONDS = 10.0  # while the folders are unknown, ComfyUI is asked again at most this often
MTIME_SLACK_SECONDS = 5.0  # clocks of a file server and of the agent may differ a little
READ_IN_LOOP_BYTES = 256 * 1024  # a local output this small is read without a thread hop


@dataclass(frozen=True)
class Folders:
    input: Path | None = None
    output: Path | None = None

    @property
    def known(self) -> bool:
        return self.input is not None or self.output is not None


def _option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def folders_from_argv(argv: list[str]) -> Folders:
    """ComfyUI's input and output folders from its command line (absolute paths only: its cwd is unknown)."""
    base = _option(argv, "--base-directory")
    if base is None and argv and os.path.isabs(argv[0]) and os.path.basename(argv[0]) == "main.py":
        base = os.path.dirname(argv[0])

    def folder(option: str, default: str) -> Path | None:
        value = _option(argv, option)
        if value is None and base is not None:
            value = os.path.join(base, default)
        return Path(value) if value and os.path.isabs(value) else None

    return Folders(input=folder("--input-directory", "input"), output=folder("--output-directory", "output"))


def _identity(info: os.stat_result) -> dict:
    return {"dev": info.st_dev, "ino": info.st_ino, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def safe_file(root: Path, relative: str) -> tuple[Path, os.stat_result] | None:
    """`root/relative` when it is a regular file inside `root` reached without a symbolic link, else None."""
    if not relative or "\x00" in relative or os.path.isabs(relative) or relative.startswith("\\"):
        return None
    root_real = os.path.realpath(root)
    candidate = os.path.normpath(os.path.join(root_real, relative))
    real = os.path.realpath(candidate)
    if real != candidate:  # `..` out of the folder, or a symbolic link on the way
        return None
    if os.path.commonpath([real, root_real]) != root_real or real == root_real:
        return None
    try:
        info = os.lstat(real)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return Path(real), info


class FileJanitor:
    """Deletes what the agent put in ComfyUI's folders, and only that (see the module docstring)."""

    def __init__(
        self,
        *,
        input_dir: str = "",
        output_dir: str = "",
        state_dir: str | Path = "var/agent-state",
        record_ttl: float = 24 * 3600,
        comfyui_url: str = "",
    ) -> None:
        self.explicit = Folders(
            input=Path(input_dir).resolve() if input_dir else None,
            output=Path(output_dir).resolve() if output_dir else None,
        )
        self.folders = self.explicit
        self.record_ttl = record_ttl
        self.comfyui_url = comfyui_url
        self.state_dir = Path(state_dir)
        self._discovered_at: float | None = None
        self._warned = False

    # --- where ComfyUI's folders are ---------------------------------------------------------------

    def _ledger_paths(self) -> tuple[Path, Path] | None:
        if self.folders.output is None:
            return None
        key = hashlib.sha256(str(self.folders.output).encode()).hexdigest()[:16]
        return self.state_dir / f"outputs-{key}.jsonl", self.state_dir / f"outputs-{key}.lock"

    def discovery_attempted(self) -> None:
        """The folders were asked for now (whatever the answer): not again before DISCOVERY_RETRY_SECONDS."""
        self._discovered_at = time.monotonic()

    def may_discover(self, system_stats: dict) -> None:
        """Fill the folders not given explicitly from ComfyUI's `/system_stats` (a ComfyUI on this machine)."""
        self.discovery_attempted()
        host = urlparse(self.comfyui_url).hostname or ""
        if not is_loopback_host(host):
            return
        argv = ((system_stats or {}).get("system") or {}).get("argv") or []
        found = folders_from_argv([str(arg) for arg in argv])
        pick = {}
        for name in ("input", "output"):
            given = getattr(self.explicit, name)
            seen = getattr(found, name)
            pick[name] = given or (seen.resolve() if seen is not None and seen.is_dir() else None)
        self.folders = Folders(**pick)
        if self.folders.input or self.folders.output:
            logger.info("ComfyUI's folders: input %s, output %s", self.folders.input, self.folders.output)

    def wants_discovery(self) -> bool:
        missing = self.folders.input is None or self.folders.output is None
        if not missing:
            return False
        return self._discovered_at is None or time.monotonic() - self._discovered_at > DISCOVERY_RETRY_SECONDS

    def warn_if_blind(self) -> None:
        if self._warned or (self.folders.input and self.folders.output):
            return
        self._warned = True
        logger.warning(
            "ComfyUI's %s folder is unknown: the agent cannot delete what it leaves there; set "
            "AGENT_COMFYUI_INPUT_DIR and AGENT_COMFYUI_OUTPUT_DIR (or --comfyui-input-dir/--comfyui-output-dir)",
            "input" if self.folders.input is None else "output",
        )

    # --- inputs ------------------------------------------------------------------------------------

    def release_inputs(self, names: Iterable[str], in_use: set[str]) -> int:
        """Delete the agent's uploads among `names` that no live task uses; returns how many went.

        Synchronous on purpose: the check and the unlink happen in one step of the event loop, so a task
        that claims the same name (before uploading it again) cannot slip in between.
        """
        if self.folders.input is None:
            return 0
        removed = 0
        for name in set(names) - in_use:
            if not isinstance(name, str) or not UPLOAD_NAME.match(name):
                continue  # not a name the agent gives its uploads
            found = safe_file(self.folders.input, name)
            if found is None:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(found[0])
                removed += 1
        if removed:
            logger.info("deleted %d input picture(s) no task uses any more", removed)
        return removed

    # --- outputs -----------------------------------------------------------------------------------

    def local_output(self, ref: dict) -> tuple[Path, int] | None:
        """(path, size) of an output file ComfyUI reported, when the agent sees the output folder.

        Read from disk, a task's results cost no HTTP round trip to ComfyUI's `/view` per picture; the
        same checks as for deleting apply (a regular file inside the folder, no link or `..` on the way).
        """
        if self.folders.output is None or not isinstance(ref, dict) or ref.get("type", "output") != "output":
            return None
        found = safe_file(
            self.folders.output, os.path.join(str(ref.get("subfolder") or ""), str(ref.get("filename") or ""))
        )
        return None if found is None else (found[0], found[1].st_size)

    def register_outputs(self, task_id: str, refs: Iterable[dict], since: float, now: float | None = None) -> int:
        """Note a task's output files (checked now) for deletion when its record expires; returns how many."""
        paths = self._ledger_paths()
        if paths is None:
            return 0
        now = time.time() if now is None else now
        entries = []
        for ref in refs:
            if not isinstance(ref, dict) or ref.get("type", "output") != "output":
                continue  # temp previews and inputs are not the task's outputs
            relative = os.path.join(str(ref.get("subfolder") or ""), str(ref.get("filename") or ""))
            found = safe_file(self.folders.output, relative)
            if found is None:
                logger.warning("task %s: output %r is not a file of ComfyUI's output folder; kept", task_id, relative)
                continue
            path, info = found
            if info.st_mtime < since - MTIME_SLACK_SECONDS:
                logger.warning("task %s: output %s is older than the task; kept", task_id, relative)
                continue
            relative = os.path.relpath(path, os.path.realpath(self.folders.output))
            entries.append({"task": task_id, "path": relative, "expires": now + self.record_ttl, **_identity(info)})
        if entries:
            with self._locked(paths):
                self.state_dir.mkdir(parents=True, exist_ok=True)
                with open(paths[0], "a", encoding="utf-8") as ledger:
                    ledger.writelines(json.dumps(entry, separators=(",", ":")) + "\n" for entry in entries)
        return len(entries)

    def delete_outputs(self, task_id: str) -> int:
        """Delete a task's outputs now (`--outputs-after-read delete`)."""
        return self._delete_where(lambda entry: entry.get("task") == task_id)

    def sweep(self, now: float | None = None) -> int:
        """Delete the outputs whose record has expired."""
        now = time.time() if now is None else now
        return self._delete_where(lambda entry: entry.get("expires", float("inf")) <= now)

    def pending(self) -> list[dict]:
        """The outputs waiting for deletion (tests, troubleshooting)."""
        paths = self._ledger_paths()
        if paths is None:
            return []
        with self._locked(paths):
            return self._read(paths[0])

    def _delete_where(self, due) -> int:
        paths = self._ledger_paths()
        if paths is None or not paths[0].exists():
            return 0
        removed = 0
        with self._locked(paths):
            entries = self._read(paths[0])
            keep = []
            for entry in entries:
                if not due(entry):
                    keep.append(entry)
                    continue
                found = safe_file(self.folders.output, str(entry.get("path", "")))
                if found is None:
                    continue  # gone already, or no longer a plain file inside the folder
                path, info = found
                if _identity(info) != {key: entry.get(key) for key in ("dev", "ino", "size", "mtime_ns")}:
                    logger.warning("output %s changed since its task wrote it; kept", entry.get("path"))
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
            if len(keep) != len(entries):
                self._rewrite(paths[0], keep)
        if removed:
            logger.info("deleted %d output file(s)", removed)
        return removed

    @staticmethod
    def _read(path: Path) -> list[dict]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    entries.append(entry)
        return entries

    @staticmethod
    def _rewrite(path: Path, entries: list[dict]) -> None:
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            temp.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries), encoding="utf-8")
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self, paths: tuple[Path, Path]):
        """One writer at a time, across the agent processes that share a state folder."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(paths[1], "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


async def read_results(progress: dict, janitor: FileJanitor, comfy: ComfyClient) -> dict[str, list[str]]:
    """Base64 (standard, padded) of every output file of every node, aligned with the node's `images`."""
    results: dict[str, list[str]] = {}
    for node_id, entry in progress.items():
        if node_id and entry.get("images"):
            results[node_id] = [base64.b64encode(await output_bytes(ref, janitor, comfy)).decode("ascii")
                                for ref in entry["images"]]  # fmt: skip
    return results


async def output_bytes(ref: dict, janitor: FileJanitor, comfy: ComfyClient) -> bytes:
    """An output file: straight from ComfyUI's output folder when the agent sees it, else through `/view`."""
    local = janitor.local_output(ref)
    if local is not None:
        path, size = local
        with contextlib.suppress(OSError):
            return path.read_bytes() if size <= READ_IN_LOOP_BYTES else await asyncio.to_thread(path.read_bytes)
    try:
        return await comfy.view(ref["filename"], ref.get("subfolder", ""), ref.get("type", "output"))
    except ComfyError:
        logger.warning("could not read output %s", ref.get("filename"))
        return b""
