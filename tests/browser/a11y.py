"""axe-core in the browser tests: the vendored script (tests/browser/vendor/, no CDN) run on the page under test."""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
BLOCKING = ("serious", "critical")

RUN = """async () => {
  const result = await window.axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(
      n => n.target.join(" ") + " — " + (n.failureSummary || "").split("\\n").slice(1).join(" ")),
  }));
}"""


def axe_violations(page, impacts: tuple[str, ...] = BLOCKING) -> list[dict]:
    """The page's axe violations of the given impacts (serious and critical by default).

    The script goes in through the DevTools protocol (page.evaluate), so the site's Content-Security-Policy
    stays on and untouched.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    return [v for v in page.evaluate(RUN) if v["impact"] in impacts]


def assert_no_serious_violations(page, where: str) -> None:
    found = axe_violations(page)
    assert not found, f"{where}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']} {v['nodes']}" for v in found)
