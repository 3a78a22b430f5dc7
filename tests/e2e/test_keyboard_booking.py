"""Booking a desk from the availability grid with the keyboard alone, in real Chromium, on
both databases: Tab to reach things, the arrow keys inside the grid (static/js/grid.js keeps a
single tab stop there), Enter to follow a link or press a button. No mouse click anywhere
after logging in.

The app's clock stands on Monday 23 November 2026, 09:00 in Wolfsburg.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect


def focused_text(page: Page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.innerText")


def is_focused(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def focus_by_tab(page: Page, target, most: int = 80) -> None:
    """Press Tab until ``target`` has the focus: proves it is reachable by keyboard."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if is_focused(target):
            return
    raise AssertionError(f"{target} was not reached with {most} presses of Tab")


def test_a_desk_is_booked_from_the_grid_with_the_keyboard_alone(mia: Page, place):
    first, second = place.desks[0], place.desks[1]  # both in "Open Space A"
    nav = mia.get_by_role("navigation", name="Hauptnavigation")
    focus_by_tab(mia, nav.get_by_role("link", name="Belegung"))
    mia.keyboard.press("Enter")
    expect(mia.get_by_role("heading", level=1)).to_have_text("Belegung")

    focus_by_tab(mia, mia.get_by_role("link", name="Nächster Tag →"))
    mia.keyboard.press("Enter")
    expect(mia.get_by_role("heading", level=2, name="Arbeitsplätze am Dienstag, 24. November 2026")
           ).to_be_visible()

    # Tab enters the grid once, at its first free slot ...
    grid = mia.get_by_role("table")
    start = grid.get_by_role("link", name=f"{first.name}, Vormittag: frei")
    focus_by_tab(mia, start)
    expect(start).to_have_attribute("tabindex", "0")
    # ... and the arrow keys move inside it: down to the next desk, right to its afternoon.
    mia.keyboard.press("ArrowDown")
    mia.keyboard.press("ArrowRight")
    target = grid.get_by_role("link", name=f"{second.name}, Nachmittag: frei")
    expect(target).to_be_focused()
    expect(target).to_have_attribute("tabindex", "0")
    expect(start).to_have_attribute("tabindex", "-1")
    mia.keyboard.press("Enter")

    # The form arrives filled in, with the price and the included credit shown first.
    expect(mia.get_by_role("heading", level=1)).to_have_text(f"{second.name} buchen")
    expect(mia.get_by_label("Tageszeit")).to_have_value("afternoon")
    preview = mia.get_by_role("region", name="Preis und was Ihre Mitgliedschaft enthält")
    expect(preview).to_contain_text("in Ihrer Mitgliedschaft enthalten")
    expect(preview).to_contain_text("Di., 24. Nov. 2026, 13:00")

    focus_by_tab(mia, mia.get_by_role("button", name="Buchen", exact=True))
    mia.keyboard.press("Enter")

    expect(mia.get_by_role("status")).to_contain_text("Gebucht. Bis bald im Schiller40!")
    expect(mia.get_by_role("heading", level=1)).to_have_text(second.name)
    expect(mia.locator("dl.facts dt:text-is('Wann') + dd")).to_contain_text("13:00")
    expect(mia.get_by_role("region", name="Stornobedingungen")).to_be_visible()

    # Back in the grid, the slot is now "your booking".
    mia.goto("/availability?day=2026-11-24")
    expect(mia.get_by_role("link", name=f"{second.name}, Nachmittag: Ihre Buchung")).to_be_visible()


def test_the_grid_works_without_javascript(browser, live_server, place):
    """Without grid.js every free slot is a link of its own in the tab order."""
    context = browser.new_context(base_url=live_server, locale="de-DE",
                                  java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/availability?day=2026-11-24")
        links = page.get_by_role("table").get_by_role("link")
        expect(links.first).not_to_have_attribute("tabindex", "-1")
        expect(links).to_have_count(4 * 3)  # four desks, three parts, all free
        # Anonymous: following a slot asks for the log-in first.
        focus_by_tab(page, links.first)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    finally:
        context.close()
