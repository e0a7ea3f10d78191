"""Every visitor page as served holds no inline script, style or event handler: the strict CSP would block them.

Scripts and styles are files under static/ (progressive enhancement in site.js); JSON data islands
(`<script type="application/json">`) are data, not code.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.operator_payloads import seed_payloads, visitor_pages

URL_ATTRIBUTES = {"href", "src", "action", "formaction"}


class _InlineCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and "src" not in values and values.get("type") != "application/json":
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style>")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"<{tag} style=…>")
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name in URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")


def inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    parser.close()
    return parser.problems


def test_the_checker_sees_each_kind_of_inline_code():
    html = '<script>x()</script><style>p{}</style><p style="color:red" onclick="x()"><a href="javascript:x()">'
    assert inline_code(html) == [
        "inline <script>", "<style>", "<p style=…>", "<p onclick=…>", "<a href=javascript:…>",
    ]  # fmt: skip
    assert inline_code('<script src="/static/js/site.js"></script><script type="application/json">{}</script>') == []


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_visitor_pages_as_served_hold_no_inline_code(client, visitor, language):
    for path in visitor_pages(seed_payloads(session_key=visitor)):
        answer = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
        assert answer.status_code == 200, path
        assert inline_code(answer.content.decode()) == [], path
