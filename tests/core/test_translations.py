"""Every message the code marks for translation has its Simplified Chinese text, compiled."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
CATALOGS = sorted(BASE_DIR.glob("comfyweb/**/locale/zh_Hans/LC_MESSAGES/django.po"))


def test_there_is_a_catalog_per_translated_package():
    assert {path.relative_to(BASE_DIR).parts[1] for path in CATALOGS} >= {"locale", "catalog"}


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: str(path.relative_to(BASE_DIR)))
def test_every_message_is_translated_and_compiled(catalog: Path, tmp_path):
    if shutil.which("msgfmt") is None:
        pytest.skip("gettext's msgfmt is not installed")
    compiled = tmp_path / "django.mo"
    done = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(compiled), str(catalog)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "untranslated" not in done.stderr and "fuzzy" not in done.stderr, done.stderr
    shipped = catalog.with_suffix(".mo")
    assert shipped.read_bytes() == compiled.read_bytes(), f"{shipped} is older than its .po: run compilemessages"
