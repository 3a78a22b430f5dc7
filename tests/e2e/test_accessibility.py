"""Accessibility of every main page, in real Chromium, in German and in English.

1. axe-core runs the WCAG 2.1 A/AA rules on each page of ``SCREENS`` in screens.py (add a
   page there: one line), and the same visit takes the phone and desktop screenshots.
2. What axe cannot judge is checked by hand here: every link and button shows a visible focus
   indicator when reached with the keyboard, the skip link moves the focus to the content,
   and the language a visitor chooses stays chosen across pages, after log-in and log-out.

The markup does not depend on the database, so these run on SQLite only (the flows in
test_member_flows.py cover both databases).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD

from .axe import assert_accessible, run_axe
from .conftest import log_in
from .screens import (
    PHONE,
    SCREENS,
    Screen,
    choose_english,
    open_screen,
    photograph,
    sideways_overflow,
)

pytestmark = pytest.mark.sqlite_only

@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
def test_page_has_no_wcag_violations_and_fits_phone_and_desktop(
    page: Page, place, scene, screen: Screen, lang: str
):
    """axe first (at phone width, where the header stacks), then the screenshots at phone and
    desktop width with the reflow check: one visit per page and language."""
    page.set_viewport_size(PHONE)
    open_screen(page, place, scene, screen, lang)
    assert_accessible(page)
    photograph(page, screen, lang)


@pytest.mark.parametrize("width", [390, 1280])
def test_no_violations_at_phone_and_desktop_width(page: Page, place, scene, width: int):
    """Reflow: the layout changes at phone width (stacked header); contrast and names must
    hold there too."""
    page.set_viewport_size({"width": width, "height": 844})
    open_screen(page, place, scene, Screen("detail", "/bookings/{held}", "member"), "de")
    assert_accessible(page)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_price_list_fits_320_px(page: Page, place, scene, lang: str):
    """The narrowest width WCAG 1.4.10 asks for: the price tables stack, nothing scrolls
    sideways, and axe still finds nothing."""
    page.set_viewport_size({"width": 320, "height": 640})
    open_screen(page, place, scene, Screen("tarife", "/tarife"), lang)
    assert_accessible(page)
    assert sideways_overflow(page) <= 0


# --- what axe cannot judge -------------------------------------------------------------------

FOCUS_STYLE = """el => {
    const s = getComputedStyle(el);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow,
            s.backgroundColor, s.color, s.textDecorationLine].join('|');
}"""

INTERACTIVE = "a[href], button, input:not([type=hidden]), select, textarea"


def focus_indicator_missing(page: Page, most: int = 80) -> list[str]:
    """Tab through the page; every element that takes the focus must look different then.

    The style of each element is read first without focus, then with the keyboard focus on
    it (so :focus-visible applies, as for a keyboard user)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    elements = page.locator(INTERACTIVE)
    unfocused: dict[str, str] = {}
    for i in range(elements.count()):
        el = elements.nth(i)
        if el.is_visible():
            el.evaluate("(el, i) => el.dataset.focusProbe = String(i)", i)
            unfocused[str(i)] = el.evaluate(FOCUS_STYLE)
    missing, seen = [], set()
    for _ in range(most):
        page.keyboard.press("Tab")
        probe = page.evaluate("() => document.activeElement.dataset.focusProbe || ''")
        if not probe:
            if page.evaluate("() => document.activeElement === document.body"):
                break  # past the last element
            continue
        if probe in seen:
            break
        seen.add(probe)
        focused = page.evaluate(f"() => ({FOCUS_STYLE})(document.activeElement)")
        if focused == unfocused.get(probe):
            missing.append(page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)"))
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        shadow = page.evaluate("() => getComputedStyle(document.activeElement).boxShadow")
        if outline == "none" and shadow == "none":
            missing.append(page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)"))
    assert seen, "Tab reached no link or button"
    return missing


FOCUS_SCREENS = [s for s in SCREENS if s.name in (
    "start", "login", "not-found", "my-bookings", "booking-form-errors", "booking-detail-unpaid",
    "account", "staff-start",
)]


@pytest.mark.parametrize("screen", FOCUS_SCREENS, ids=[s.name for s in FOCUS_SCREENS])
def test_every_link_and_button_shows_where_the_focus_is(page: Page, place, scene, screen):
    open_screen(page, place, scene, screen, "de")
    missing = focus_indicator_missing(page)
    assert not missing, "no visible focus indicator on:\n" + "\n".join(missing)


def test_the_skip_link_is_first_visible_on_focus_and_moves_to_the_content(
    page: Page, place, scene
):
    log_in(page, place.member.email)
    page.goto("/bookings")
    skip = page.get_by_role("link", name="Zum Inhalt springen")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0 and box["width"] > 0, box  # on screen
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/bookings#main$"))
    expect(page.locator("main")).to_be_focused()
    # The next Tab goes to the first thing inside the content, past the header.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement)")
    expect(page.get_by_role("link", name="Raum buchen")).to_be_focused()


def test_the_skip_link_is_hidden_until_focused(page: Page, place):
    page.goto("/")
    skip = page.get_by_role("link", name="Zum Inhalt springen")
    box = skip.bounding_box()
    viewport = page.viewport_size or {"width": 1280, "height": 720}
    assert box is None or box["x"] + box["width"] <= 0 or box["x"] >= viewport["width"]


def test_the_language_choice_is_remembered_across_pages_log_in_and_log_out(page: Page, place):
    html = page.locator("html")
    page.goto("/")
    expect(html).to_have_attribute("lang", "de")
    choose_english(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("coworking in the Markthalle")
    # The switch offers the other language in that language, and marks it so.
    expect(page.get_by_role("button", name="Deutsch")).to_have_attribute("lang", "de")

    page.get_by_role("link", name="Spaces").click()
    expect(html).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Our spaces")

    # Logging in keeps the choice, although the account was German until now.
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("E-mail address").fill(place.member.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(html).to_have_attribute("lang", "en")
    page.get_by_role("link", name="My bookings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My bookings")

    # And after logging out.
    page.get_by_role("button", name="Log out").click()
    expect(html).to_have_attribute("lang", "en")
    expect(page.get_by_role("status")).to_contain_text("You are logged out.")

    # Back to German, remembered the same way.
    page.get_by_role("button", name="Deutsch").click()
    expect(html).to_have_attribute("lang", "de")
    page.goto("/resources")
    expect(html).to_have_attribute("lang", "de")


# --- the checks themselves -------------------------------------------------------------------


def test_axe_finds_what_it_should(page: Page):
    """Guards the guard: a page with known faults must fail (else a broken injection, a
    wrong tag list or an empty result would let every page pass)."""
    page.set_content(
        '<html><head><title>x</title></head><body><main>'
        '<img src="a.png"><a href="/x"></a>'
        '<p style="color:#bbb;background:#fff">faint text</p>'
        '<input type="text"></main></body></html>'
    )
    found = {v["id"] for v in run_axe(page)}
    assert {"html-has-lang", "image-alt", "link-name", "color-contrast", "label"} <= found


def test_the_focus_check_notices_a_hidden_focus(page: Page):
    page.set_content(
        '<html lang="en"><head><title>x</title><style>*:focus{outline:none}</style></head>'
        '<body><a href="#a">first</a> <button>second</button></body></html>'
    )
    assert len(focus_indicator_missing(page)) >= 2
