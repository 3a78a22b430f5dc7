"""Full-page screenshots of every page in ``SCREENS`` at phone and desktop width, in German
and English, kept as test artifacts for a person (or a reviewer of a CI run) to look at.

Each shot also checks what a picture shows at a glance: at 390 px nothing makes the page
scroll sideways (WCAG 1.4.10 Reflow: wide tables scroll in their own region instead), and
at 200 % text size the desktop page still fits.

Where: ``$SCHILLER40_ARTIFACTS/screenshots/`` (default ``test-artifacts/screenshots/``, which
git ignores). The README's pictures are made by ``scripts/screenshots`` instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page

from .screens import SCREENS, Screen, open_screen

pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def artifacts() -> Path:
    base = Path(os.environ.get("SCHILLER40_ARTIFACTS") or ROOT / "test-artifacts")
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sideways_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
def test_screenshot_at_phone_and_desktop_width(
    page: Page, place, scene, screen: Screen, lang: str
):
    folder = artifacts()
    page.set_viewport_size(PHONE)
    open_screen(page, place, scene, screen, lang)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        target = folder / f"{screen.name}-{lang}-{label}.png"
        page.screenshot(path=str(target), full_page=True, animations="disabled", caret="hide")
        assert target.stat().st_size > 1000, f"{target} is empty"
        assert sideways_overflow(page) <= 0, (
            f"{screen.name} ({lang}) scrolls sideways at {size['width']} px: see {target}"
        )


def test_desktop_page_reflows_at_200_percent_text(page: Page, place, scene):
    """Zooming to 200 % on a 1280 px screen is a 640 px window: still no sideways scroll."""
    page.set_viewport_size({"width": 640, "height": 400})
    for screen in SCREENS:
        if screen.who is None:
            open_screen(page, place, scene, screen, "de")
            assert sideways_overflow(page) <= 0, screen.name
