"""The layer contract (pyproject.toml, `make lint`) holds for the tree, and breaks on an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The package's Python files and the contract, in a folder of their own."""
    shutil.copytree(BASE_DIR / "comfyweb", tmp_path / "comfyweb", ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    shutil.copy(BASE_DIR / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tree_copy):
    done = lint_imports(tree_copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "message"),
    [
        ("core", "comfyweb.jobs.models", "comfyweb.core is not allowed to import comfyweb.jobs"),
        ("catalog", "comfyweb.campaigns.models", "comfyweb.catalog is not allowed to import comfyweb.campaigns"),
        ("jobs", "comfyweb.campaigns.services", "comfyweb.jobs is not allowed to import comfyweb.campaigns"),
        ("agent", "comfyweb.emulator.server", "comfyweb.agent is not allowed to import comfyweb.emulator"),
        ("comfy", "comfyweb.catalog.params", "comfyweb.comfy is not allowed to import comfyweb.catalog"),
    ],
)
def test_an_upward_import_breaks_the_contract(tree_copy, module, forbidden, message):
    (tree_copy / "comfyweb" / module / "upward.py").write_text(f"import {forbidden}  # noqa: F401\n")
    done = lint_imports(tree_copy)
    assert done.returncode != 0
    assert message in done.stdout


def test_the_agent_may_not_reach_the_web_settings(tree_copy):
    (tree_copy / "comfyweb" / "agent" / "upward.py").write_text("import comfyweb.settings  # noqa: F401\n")
    done = lint_imports(tree_copy)
    assert done.returncode != 0
    assert "The agent and the emulator run without the web app BROKEN" in done.stdout


def test_the_workflow_conversion_may_not_import_django(tree_copy):
    (tree_copy / "comfyweb" / "comfy" / "workflow" / "upward.py").write_text("import django.conf  # noqa: F401\n")
    done = lint_imports(tree_copy)
    assert done.returncode != 0
    assert "The workflow conversion imports no Django BROKEN" in done.stdout
