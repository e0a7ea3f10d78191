"""Readers for the deployment descriptors and for what the code really offers (commands, env vars, routes).

The descriptors cannot be run here (no Docker, no cluster, no cloud account), so the tests compare
them with the code: every name they use must be one the code reads or serves.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
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

# Read by software other than comfyweb itself, each documented by that software.
THIRD_PARTY_ENV = {
    # the postgres image
    "POSTGRES_DB": "postgres image",
    "POSTGRES_USER": "postgres image",
    "POSTGRES_PASSWORD": "postgres image",
    # boto3/botocore, used by django-storages for S3-compatible media
    "AWS_ACCESS_KEY_ID": "boto3",
    "AWS_SECRET_ACCESS_KEY": "boto3",
    "AWS_DEFAULT_REGION": "boto3",
    "AWS_ENDPOINT_URL": "botocore (1.31+)",
    # Python, pip, uv and Debian tooling inside the images
    "PATH": "shell",
    "PYTHONUNBUFFERED": "python",
    "PYTHONDONTWRITEBYTECODE": "python",
    "PIP_NO_CACHE_DIR": "pip",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip",
    "DEBIAN_FRONTEND": "apt",
    "UV_PYTHON_INSTALL_DIR": "uv",
    "UV_PYTHON_PREFERENCE": "uv",
    "UV_NO_CACHE": "uv",
    "UV_COMPILE_BYTECODE": "uv",
    "UV_LINK_MODE": "uv",
    # deploy/probe.py
    "PROBE_TIMEOUT": "deploy/probe.py",
}

# The agent's variables as fixed by its contract (issue 3); checked against its code once it exists.
AGENT_CONTRACT_ENV = {
    "AGENT_HOST",
    "AGENT_PORT",
    "COMFYUI_URL",
    "AGENT_STORE",
    "AGENT_COMFYUI_CMD",
    "AGENT_CONCURRENCY",
    "AGENT_TOKEN",
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


# --- What the code offers --------------------------------------------------------------------------------


def _python_files() -> list[Path]:
    return sorted(p for p in CODE.rglob("*.py") if "migrations" not in p.parts)


def _env_helpers(tree: ast.Module) -> set[str]:
    """Module functions that read the environment themselves, like `_int(name, default)` in agent/config.py."""
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and re.search(r"\b(os\.environ|getenv)\b", ast.unparse(node))
    }


@cache
def env_names_read_by_code() -> frozenset[str]:
    """Every NAME passed first to env.str/int/..., os.environ.get/[...], os.getenv or a module's own env helper."""
    names = set()
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        helpers = _env_helpers(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                func = ast.unparse(node.func)
                first = node.args[0]
                reads_env = re.search(r"\b(env|environ|getenv)\b", func) or func in helpers
                if reads_env and isinstance(first, ast.Constant):
                    if isinstance(first.value, str) and ENV_NAME.match(first.value):
                        names.add(first.value)
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                    names.add(node.slice.value)
    return frozenset(names)


def agent_command_present() -> bool:
    """Whether the agent's command (`python -m comfyweb.agent`) is in the tree."""
    return (CODE / "agent" / "__main__.py").is_file()


# `python -m <module>` programs the descriptors run, and the module holding each one's argparse parser.
MODULE_COMMANDS = {"comfyweb.agent": "comfyweb.agent.cli", "comfyweb.emulator": "comfyweb.emulator.cli"}


def module_parser(module: str):
    """The real argparse parser of `python -m <module>` (its `build_parser()`)."""
    import importlib

    return importlib.import_module(MODULE_COMMANDS[module]).build_parser()


def env_name_problem(name: str) -> str | None:
    """Why a variable name used by a descriptor or a doc is not one anything reads; None when it is."""
    if name in env_names_read_by_code() or name in THIRD_PARTY_ENV:
        return None
    if name in AGENT_CONTRACT_ENV and not agent_command_present():
        return None  # the agent's own code is not in the tree yet: its contract stands in for it
    return f"{name} is read by neither comfyweb/ nor a listed third-party program"


@cache
def source_text() -> str:
    """All of comfyweb's Python source and message catalogues, for "does the product print this" checks."""
    parts = [p.read_text(encoding="utf-8") for p in _python_files()]
    parts += [p.read_text(encoding="utf-8") for p in CODE.rglob("*.po")]
    return "\n".join(parts)


def agent_source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((CODE / "agent").rglob("*.py")))


def shell_commands(command: list[str]) -> list[list[str]]:
    """`["sh", "-c", "a && b"]` -> [[a...], [b...]]; anything else is one command."""
    if len(command) == 3 and command[0] in ("sh", "bash") and command[1] == "-c":
        return [shlex.split(part) for part in command[2].split("&&")]
    return [command]
