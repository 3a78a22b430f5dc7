"""What a member does in the browser, end to end, in real Chromium: register and log in, book a
desk half day from the list of spaces, book and pay for a studio slot on the simulated
checkout and cancel it for a refund, and book a desk with the keyboard alone.

The pages are found by their visible German text, roles and labels (as assistive technology
finds them), not by CSS selectors. The app's clock stands on Monday 23 November 2026, 09:00
in Wolfsburg; the dates below are relative to it.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import log_in

TUESDAY = "2026-11-24"
THURSDAY = "2026-11-26"  # more than 48 hours ahead: a studio booking is refunded in full


def nav(page: Page):
    return page.get_by_role("navigation", name="Hauptnavigation")


def facts(page: Page, term: str):
    """The <dd> that follows the <dt> ``term`` on a booking page."""
    return page.locator(f"dl.facts dt:text-is('{term}') + dd")


def test_register_log_out_and_log_in_again(page: Page):
    page.goto("/")
    nav(page).get_by_role("link", name="Registrieren").click()
    page.get_by_label("Vor- und Nachname").fill("Lena Albers")
    page.get_by_label("E-Mail-Adresse").fill("lena@example.org")
    page.get_by_label("Passwort", exact=True).fill("Markthalle Fahrrad Kaffee")
    page.get_by_label("Passwort wiederholen").fill("Markthalle Fahrrad Kaffee")
    page.get_by_role("button", name="Konto erstellen").click()
    # The same answer whether the address has an account: not logged in, off to log in.
    expect(page.get_by_role("status")).to_contain_text("Vielen Dank für Ihre Registrierung.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    log_in(page, "lena@example.org", "Markthalle Fahrrad Kaffee")
    expect(nav(page).get_by_role("link", name="Mein Konto")).to_be_visible()

    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("status")).to_contain_text("Sie sind jetzt abgemeldet.")
    expect(nav(page).get_by_role("link", name="Anmelden")).to_be_visible()

    log_in(page, "lena@example.org", "Markthalle Fahrrad Kaffee")
    expect(nav(page).get_by_role("link", name="Mein Konto")).to_be_visible()


def test_a_desk_half_day_included_in_the_tier_is_booked_from_spaces(mia: Page, place):
    desk = place.desks[0]
    nav(mia).get_by_role("link", name="Räume & Arbeitsplätze").click()
    mia.get_by_role("link", name=f"Buchen {desk.name}", exact=True).click()
    expect(mia.get_by_role("heading", level=1)).to_have_text(f"{desk.name} buchen")
    mia.get_by_label("Datum").fill(TUESDAY)
    mia.get_by_label("Tageszeit").select_option(label="Vormittag (bis 13:00 Uhr)")
    mia.get_by_role("button", name="Buchen", exact=True).click()

    expect(mia.get_by_role("status")).to_contain_text("Gebucht. Bis bald im Schiller40!")
    expect(mia.get_by_role("heading", level=1)).to_have_text(desk.name)
    expect(facts(mia, "Status")).to_have_text("bestätigt")
    expect(facts(mia, "Preis")).to_have_text("in Ihrer Mitgliedschaft enthalten")
    expect(facts(mia, "Wann")).to_contain_text("Di., 24. Nov. 2026, 08:00\u201313:00")


def test_a_studio_slot_is_paid_on_the_test_checkout_seen_in_my_bookings_and_cancelled(
    mia: Page, place,
):
    studio = place.studio
    mia.goto("/resources")
    mia.get_by_role("link", name=f"Buchen {studio.name}", exact=True).click()
    mia.get_by_label("Datum").fill(THURSDAY)
    mia.get_by_label("Von").fill("10:00")
    mia.get_by_label("Bis").fill("12:00")
    mia.get_by_role("button", name="Buchen", exact=True).click()

    # Two hours: one is included in the Flex tier, the other costs 35 EUR.
    expect(mia.get_by_role("note")).to_contain_text("Testzahlung – es fließt kein Geld.")
    expect(mia.get_by_role("heading", level=1)).to_have_text("Bezahlung")
    pay = mia.get_by_role("button", name=re.compile(r"bezahlen \(Test\)"))
    expect(pay).to_have_text("35,00\u00a0€ bezahlen (Test)")
    pay.click()

    expect(mia.get_by_role("status")).to_contain_text("Ihre Zahlung ist eingegangen")
    expect(mia.get_by_role("heading", level=1)).to_have_text(studio.name)
    expect(facts(mia, "Status")).to_have_text("bestätigt")
    expect(facts(mia, "Preis")).to_contain_text("35,00")
    booking_url = mia.url

    # The browser's Back leads to the checkout again: it says it is paid and leads on to the
    # booking, instead of a stale Pay button or a dead end (issue 17).
    mia.go_back()
    expect(mia.get_by_role("heading", level=1)).to_have_text("Bezahlung")
    expect(mia.get_by_role("main")).to_contain_text("Diese Bezahlung ist bereits abgeschlossen.")
    expect(mia.get_by_role("button", name=re.compile(r"bezahlen \(Test\)"))).to_have_count(0)
    mia.get_by_role("link", name="Zu meiner Buchung").click()
    expect(mia.get_by_role("heading", level=1)).to_have_text(studio.name)
    expect(facts(mia, "Status")).to_have_text("bestätigt")

    nav(mia).get_by_role("link", name="Meine Buchungen").click()
    expect(mia.get_by_role("heading", level=1)).to_have_text("Meine Buchungen")
    expect(mia.get_by_role("main")).to_contain_text(studio.name)
    mia.goto(booking_url)

    mia.get_by_role("link", name="Buchung stornieren …").click()
    expect(mia.get_by_role("heading", level=1)).to_have_text("Buchung stornieren")
    expect(mia.get_by_role("region", name="Was Sie zurückerhalten")).to_contain_text(
        "werden 35,00\u00a0€ von 35,00\u00a0€ erstattet (100 %)"
    )
    mia.get_by_role("button", name="Buchung stornieren", exact=True).click()

    expect(mia.get_by_role("status")).to_contain_text(
        "Ihre Buchung ist storniert. 35,00\u00a0€ werden auf Ihre Karte erstattet"
    )
    expect(facts(mia, "Status")).to_have_text("storniert")
    expect(mia.get_by_role("region", name="Erstattungen")).to_contain_text("35,00")


def focus_by_tab(page: Page, target, most: int = 60) -> None:
    """Press Tab until ``target`` has the focus: proves it is reachable by keyboard."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} was not reached with {most} presses of Tab")


def type_date(page: Page, field, iso: str) -> None:
    """Type a date into the focused date field, digit by digit, as a person would.

    The order of the fields follows the browser's language, which headless Chromium does not
    take from the page's locale: mm/dd/yyyy is tried first, then dd.mm.yyyy. Shift+Tab goes
    back from the year to the first part of the field."""
    year, month, day = iso.split("-")
    for attempt, digits in enumerate((month + day + year, day + month + year)):
        if attempt:
            page.keyboard.press("Shift+Tab")
            page.keyboard.press("Shift+Tab")
        page.keyboard.type(digits)
        if field.input_value() == iso:
            return
    expect(field).to_have_value(iso)


def test_a_desk_is_booked_with_the_keyboard_alone(mia: Page, place):
    desk = place.desks[1]
    mia.goto("/resources")
    focus_by_tab(mia, mia.get_by_role("link", name=f"Buchen {desk.name}", exact=True))
    mia.keyboard.press("Enter")
    expect(mia.get_by_role("heading", level=1)).to_have_text(f"{desk.name} buchen")

    day = mia.get_by_label("Datum")
    focus_by_tab(mia, day)
    type_date(mia, day, TUESDAY)
    part = mia.get_by_label("Tageszeit")
    focus_by_tab(mia, part)
    expect(part).to_have_value("day")
    mia.keyboard.press("ArrowDown")  # Ganzer Tag -> Vormittag
    mia.keyboard.press("ArrowDown")  # -> Nachmittag
    expect(part).to_have_value("afternoon")
    focus_by_tab(mia, mia.get_by_role("button", name="Buchen", exact=True))
    mia.keyboard.press("Enter")

    expect(mia.get_by_role("status")).to_contain_text("Gebucht. Bis bald im Schiller40!")
    expect(facts(mia, "Status")).to_have_text("bestätigt")
    expect(facts(mia, "Wann")).to_contain_text("13:00")
