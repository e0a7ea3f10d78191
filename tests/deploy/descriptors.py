"""Readers for the deployment descriptors and for what the programs really do (commands, env vars).

`make test-deploy` runs the images and the compose file; Kubernetes and Function Compute cannot run here, so
these tests compare their descriptors with the programs: every variable they set must be one a program reads
when it runs (tests/deploy/env_reads.py), every command one its real parser accepts.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCS = ROOT / "docs"
CODE = ROOT / "comfyweb"

AGENT_PORT = 8189
WEB_PORT = 8000

# Read by programs inside the images that are not run by the tests: the public postgres image (and the entry
# point of deploy/images/postgres.Containerfile), Python, pip, uv and apt while an image is built.
IMAGE_TOOL_ENV = {
    "POSTGRES_DB": "postgres image",
    "POSTGRES_USER": "postgres image",
    "POSTGRES_PASSWORD": "postgres image",
    "PATH": "shell",
    "PYTHONUNBUFFERED": "python",
    "PYTHONDONTWRITEBYTECODE": "python",
    "PIP_NO_CACHE_DIR": "pip",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip",
    "DEBIAN_FRONTEND": "apt",
    "UV_PYTHON_INSTALL_DIR": "uv",
    "UV_PYTHON_PREFERENCE": "uv",
    "UV_NO_CACHE": "uv",
}

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


# --- YAML ---------------------------------------------------------------------------------------------


def load_yaml_all(path: Path) -> list:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


@cache
def compose() -> dict:
    (doc,) = load_yaml_all(DEPLOY / "compose.yaml")
    return doc


@cache
def fc() -> dict:
    (doc,) = load_yaml_all(DEPLOY / "fc" / "s.yaml")
    return doc


def fc_props() -> dict:
    return fc()["resources"]["agent"]["props"]


@cache
def k8s_objects() -> list[tuple[str, dict]]:
    """(file relative to deploy/k8s, object) for every Kubernetes object, kustomization excluded."""
    found = []
    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(str(path.relative_to(DEPLOY / "k8s")), doc) for doc in load_yaml_all(path)]
    return found


def k8s_by_kind(kind: str) -> list[dict]:
    return [obj for _, obj in k8s_objects() if obj.get("kind") == kind]


def k8s_object(kind: str, name: str) -> dict:
    (obj,) = [o for o in k8s_by_kind(kind) if o["metadata"]["name"] == name]
    return obj


def containers(workload: dict) -> list[dict]:
    return workload["spec"]["template"]["spec"]["containers"]


# --- Dockerfiles ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def dockerfile(name: str) -> list[Instruction]:
    """Instructions of deploy/<name> with continuation lines joined and comment lines dropped."""
    instructions: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate((DEPLOY / name).read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    return instructions


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of a CMD/ENTRYPOINT/HEALTHCHECK CMD (the shell form is not used in our images)."""
    args = instruction.args
    if instruction.keyword == "HEALTHCHECK":
        args = args[args.index("CMD") + len("CMD") :].strip()
    return json.loads(args)


def env_assignments(instruction: Instruction) -> dict[str, str]:
    """NAME=value pairs of an ENV instruction."""
    return dict(token.split("=", 1) for token in shlex.split(instruction.args))


def stage_env(name: str, stage: str) -> dict[str, str]:
    """Variables set by ENV in one build stage (FROM … AS stage)."""
    current, env = None, {}
    for instruction in dockerfile(name):
        if instruction.keyword == "FROM":
            parts = instruction.args.split()
            current = parts[-1] if len(parts) >= 3 and parts[-2].upper() == "AS" else None
        elif instruction.keyword == "ENV" and current == stage:
            env.update(env_assignments(instruction))
    return env


# --- What the programs read ---------------------------------------------------------------------------------


@cache
def env_reads() -> dict:
    """{"comfyweb": names our code reads, "third_party": {name: package}}, recorded by running the programs."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.deploy.env_reads"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def env_names_read_by_code() -> frozenset[str]:
    """Every variable comfyweb's settings, the agent's command and deploy/probe.py read when they run."""
    return frozenset(env_reads()["comfyweb"])


# `python -m <module>` programs the descriptors run, and the module holding each one's argparse parser.
MODULE_COMMANDS = {"comfyweb.agent": "comfyweb.agent.cli", "comfyweb.emulator": "comfyweb.emulator.cli"}


def module_parser(module: str):
    """The real argparse parser of `python -m <module>` (its `build_parser()`)."""
    import importlib

    return importlib.import_module(MODULE_COMMANDS[module]).build_parser()


def env_name_problem(name: str) -> str | None:
    """Why a variable name used by a descriptor or a doc is not one anything reads; None when it is."""
    if name in env_names_read_by_code() or name in env_reads()["third_party"] or name in IMAGE_TOOL_ENV:
        return None
    return f"{name} is read by neither comfyweb/ nor a third-party program it runs, nor an image's tools"


@cache
def source_text() -> str:
    """comfyweb's Python source and message catalogues: for messages printed only inside faults."""
    paths = sorted(p for p in CODE.rglob("*.py") if "migrations" not in p.parts) + sorted(CODE.rglob("*.po"))
    return "\n".join(p.read_text(encoding="utf-8") for p in paths)


def shell_commands(command: list[str]) -> list[list[str]]:
    """`["sh", "-c", "a && b"]` -> [[a...], [b...]]; anything else is one command."""
    if len(command) == 3 and command[0] in ("sh", "bash") and command[1] == "-c":
        return [shlex.split(part) for part in command[2].split("&&")]
    return [command]
