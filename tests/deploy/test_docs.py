"""The operator docs exist, link to real files, and quote only messages the product really prints."""

from __future__ import annotations

import re

import pytest

from tests.deploy.descriptors import CODE, DOCS, ROOT, source_text

PAGES = ["embedded.md", "single-gpu-box.md", "serverless-gpu.md", "kubernetes.md", "troubleshooting.md", "metrics.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PLACEHOLDER = re.compile(r"<[^<>]+>|…")


def _quoted_messages() -> list[str]:
    """Messages quoted as `### `message`` headings in troubleshooting.md."""
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    return re.findall(r"^### `([^`]+)`", text, flags=re.MULTILINE)


def test_every_page_exists_and_the_readme_links_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deployment", 1)
    assert len(section) == 2, "README.md has no Deployment section"
    for page in PAGES:
        assert (DOCS / page).is_file(), page
        assert f"docs/{page}" in section[1], f"README's Deployment section does not link docs/{page}"


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{page.name} links to missing {target}"


QUOTED = _quoted_messages()


def test_troubleshooting_quotes_messages():
    assert len(QUOTED) >= 15


@pytest.mark.parametrize("message", QUOTED)
def test_quoted_message_is_printed_by_the_product(message):
    """Each literal part (between <placeholders>) appears in comfyweb's code or its translations."""
    source = source_text()
    fragments = [part.strip() for part in PLACEHOLDER.split(message) if len(part.strip()) >= 4]
    assert fragments, message
    for fragment in fragments:
        assert fragment in source, f"{fragment!r} is not in comfyweb/"


def test_every_system_check_id_is_explained_and_no_other():
    in_code = set(
        re.findall(
            r"""id=["'](comfyweb\.[EW]\d{3})["']""",
            "\n".join(p.read_text(encoding="utf-8") for p in CODE.rglob("*.py")),
        )
    )
    documented = set(re.findall(r"comfyweb\.[EW]\d{3}", (DOCS / "troubleshooting.md").read_text(encoding="utf-8")))
    assert in_code and in_code == documented


def test_the_message_check_has_teeth():
    assert "This message is printed nowhere" not in source_text()
