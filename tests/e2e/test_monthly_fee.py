"""Paying monthly, end to end in real Chromium: register, choose Flex, pay on the simulated
checkout with SEPA direct debit, and the membership is active with its included credit
usable at once (a desk booked on the credit). Both databases.

The app's clock stands on Monday 23 November 2026, 09:00 in Wolfsburg: a start today is
charged for 8 of 30 days (89,00 € x 8 / 30 = 23,73 €).
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import log_in

TUESDAY = "2026-11-24"


def test_register_choose_flex_pay_by_sepa_and_book_on_the_credit(page: Page, place):
    page.goto("/register")
    page.get_by_label("Vor- und Nachname").fill("Lena Albers")
    page.get_by_label("E-Mail-Adresse").fill("lena@example.org")
    page.get_by_label("Passwort", exact=True).fill("Markthalle Fahrrad Kaffee")
    page.get_by_label("Passwort wiederholen").fill("Markthalle Fahrrad Kaffee")
    page.get_by_role("button", name="Konto erstellen").click()
    log_in(page, "lena@example.org", "Markthalle Fahrrad Kaffee")

    # The choose-tier page (another part of issue 19) links here for a monthly tier.
    page.goto(f"/account/membership/monthly/{place.tier.slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{place.tier.name} monatlich bezahlen")
    page.get_by_label("Heute, 23. November 2026: 23,73\u00a0€ für den Rest dieses Monats").check()
    page.get_by_label("SEPA-Lastschrift").check()
    page.get_by_role("button", name="Weiter zur Zahlung").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Monatsbeitrag: Bezahlung")
    page.get_by_label("SEPA-Lastschrift").check()
    page.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 00")
    page.get_by_label("Ich ermächtige Schiller40").check()
    page.get_by_role("button", name="Abschließen und 23,73\u00a0€ bezahlen (Test)").click()

    expect(page.get_by_role("status")).to_contain_text(
        f"Willkommen bei {place.tier.name}! Ihre Mitgliedschaft ist aktiv.")
    expect(page.locator("#subscription-status")).to_have_text("aktiv")
    expect(page.locator("#payment-method")).to_contain_text("DE89 •••• 3000")
    expect(page.locator("#mandate-reference")).to_contain_text("SIM-")
    expect(page.locator("#next-charge")).to_contain_text("1. Dezember 2026")

    # The included credit (one desk day) is usable at once.
    desk = place.desks[0]
    page.goto(f"/resources/{desk.slug}/book")
    page.get_by_label("Datum").fill(TUESDAY)
    page.get_by_label("Tageszeit").select_option(label="Vormittag (bis 13:00 Uhr)")
    page.get_by_role("button", name="Buchen", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Gebucht. Bis bald im Schiller40!")
    expect(page.locator("dl.facts dt:text-is('Preis') + dd")).to_have_text(
        "in Ihrer Mitgliedschaft enthalten")
