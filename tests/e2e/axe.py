"""axe-core (Deque's accessibility engine, the one in browser dev tools) run inside a
Playwright page, failing with a list a person can act on.

The script comes from npm (tests/js/package.json pins the version; ``npm ci --prefix
tests/js`` installs it), never from a CDN. It is evaluated through the DevTools protocol
rather than added as a ``<script>`` element: the app's Content-Security-Policy refuses inline
scripts, and the pages are checked under the same policy visitors get.

Only the rules of WCAG 2.0/2.1 level A and AA are run (the legal bar for BITV 2.0), not axe's
"best practice" extras.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_SKIP_REASON = "axe-core not installed"


def axe_source() -> str:
    """The axe-core script; a missing install skips (fails under CI) with the fix to run."""
    if not AXE_JS.exists():
        problem = f"{AXE_JS} is missing (run: npm ci --prefix tests/js --no-audit --no-fund)"
        if in_ci():
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(f"{AXE_SKIP_REASON}: {problem}")
    return AXE_JS.read_text(encoding="utf-8")


def run_axe(page: Any) -> list[dict[str, Any]]:
    """Run the WCAG 2.1 A/AA rules on the page as it is now; returns axe's violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        """tags => axe.run(document, {
               runOnly: {type: 'tag', values: tags},
               resultTypes: ['violations'],
           })""",
        WCAG_TAGS,
    )
    return result["violations"]


def describe(violations: list[dict[str, Any]], url: str) -> str:
    """One block per rule: id, impact, what it means, the elements (CSS selectors) at fault."""
    lines = [f"{len(violations)} accessibility rule(s) violated on {url}:"]
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact') or 'n/a'}): {v['help']}")
        lines.append(f"  {v['helpUrl']}")
        for node in v["nodes"][:10]:
            target = " ".join(str(t) for t in node["target"])
            lines.append(f"    at {target}")
            summary = (node.get("failureSummary") or "").strip().splitlines()
            for line in summary[1:3]:
                lines.append(f"       {line.strip()}")
        if len(v["nodes"]) > 10:
            lines.append(f"    ... and {len(v['nodes']) - 10} more")
    return "\n".join(lines)


def assert_accessible(page: Any) -> None:
    """Fail with a readable list unless axe finds no WCAG 2.1 A/AA violation on the page."""
    violations = run_axe(page)
    assert not violations, describe(violations, page.url)
