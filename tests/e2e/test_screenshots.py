"""Reflow at 200 % text size: zooming to 200 % on a 1280 px screen is a 640 px window, and
the public pages must still fit without scrolling sideways (WCAG 1.4.10).

The full-page screenshots of every page in ``SCREENS`` (phone and desktop width, German and
English, kept in ``$SCHILLER40_ARTIFACTS/screenshots/``, default ``test-artifacts/``) are
taken by test_accessibility.py in the same visit as the axe check, so each page is opened
once. The README's pictures are made by ``scripts/screenshots`` instead.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from .screens import SCREENS, open_screen, sideways_overflow

pytestmark = pytest.mark.sqlite_only


def test_desktop_page_reflows_at_200_percent_text(page: Page, place, scene):
    page.set_viewport_size({"width": 640, "height": 400})
    for screen in SCREENS:
        if screen.who is None:
            open_screen(page, place, scene, screen, "de")
            assert sideways_overflow(page) <= 0, screen.name
