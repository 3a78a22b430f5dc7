"""What staff do in the browser, end to end, in real Chromium: block a studio slot from the
week calendar (a member then cannot book it), and approve a studio booking a member made
and paid (authorised) on the simulated checkout.

Pages are found by their visible German text, roles and labels. The app's clock stands on
Monday 23 November 2026, 09:00 in Wolfsburg.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from schiller40.extensions import db

from .conftest import TIMEOUT_MS, log_in

THURSDAY = "2026-11-26"


@pytest.fixture
def second_page(browser, live_server: str):
    """Another person's browser (own cookies) on the same live server."""
    context = browser.new_context(base_url=live_server, locale="de-DE",
                                  timezone_id="Europe/Berlin")
    context.set_default_timeout(TIMEOUT_MS)
    other = context.new_page()
    yield other
    context.close()


def nav(page: Page):
    return page.get_by_role("navigation", name="Hauptnavigation")


def test_staff_block_a_studio_slot_and_a_member_cannot_book_it(
    page: Page, second_page: Page, place,
):
    studio = place.studio
    log_in(page, place.staff.email)
    nav(page).get_by_role("link", name="Mitarbeitende").click()
    page.get_by_role("link", name="Kalender", exact=True).click()
    page.get_by_role("link", name=studio.name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Kalender: {studio.name}")

    page.get_by_role("link", name=re.compile(r"^frei\W+Do\., 26\. Nov\., 10:00$")).click()
    block = page.get_by_role("region", name="Diese Zeit sperren")
    expect(block.get_by_label("Von (Datum)")).to_have_value(THURSDAY)
    expect(block.get_by_label("Von (Uhrzeit)")).to_have_value("10:00")
    block.get_by_label("Bis (Uhrzeit)").fill("12:00")
    block.get_by_label("Art").select_option(label="Wartung")
    block.get_by_label("Grund").fill("Neue Kameras")
    block.get_by_role("button", name="Sperren", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text("Gesperrt.")
    grid = page.get_by_role("table")
    expect(grid).to_contain_text("Neue Kameras")

    log_in(second_page, place.member.email)
    second_page.goto("/resources")
    second_page.get_by_role("link", name=f"Buchen {studio.name}", exact=True).click()
    second_page.get_by_label("Datum").fill(THURSDAY)
    second_page.get_by_label("Von").fill("10:30")
    second_page.get_by_label("Bis").fill("11:30")
    second_page.get_by_role("button", name="Buchen", exact=True).click()
    expect(second_page.get_by_role("alert")).to_contain_text(
        "Zu dieser Zeit ist keine Buchung möglich (Wartung oder Veranstaltung).")


def test_staff_approve_a_studio_booking_the_member_paid(page: Page, second_page: Page, place):
    studio = place.studio
    studio.requires_approval = True
    db.session.commit()

    mia = second_page
    log_in(mia, place.member.email)
    mia.goto("/resources")
    mia.get_by_role("link", name=f"Buchen {studio.name}", exact=True).click()
    mia.get_by_label("Datum").fill(THURSDAY)
    mia.get_by_label("Von").fill("10:00")
    mia.get_by_label("Bis").fill("12:00")
    mia.get_by_role("button", name="Buchen", exact=True).click()
    mia.get_by_role("button", name=re.compile(r"bezahlen \(Test\)")).click()
    expect(mia.get_by_role("status")).to_contain_text("auf Ihrer Karte vorgemerkt")
    booking_url = mia.url

    log_in(page, place.staff.email)
    nav(page).get_by_role("link", name="Mitarbeitende").click()
    expect(page.get_by_role("main")).to_contain_text("Freigaben (1 offen)")
    page.get_by_role("link", name="Freigaben", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Freigaben")
    expect(page.get_by_role("main")).to_contain_text(place.member.name)
    page.get_by_role("button", name=re.compile(r"^Genehmigen und abbuchen")).click()

    expect(page.get_by_role("status")).to_contain_text(
        f"Freigegeben: Die Buchung von {place.member.name} ist bestätigt")
    expect(page.get_by_role("main")).to_contain_text("Es wartet nichts auf eine Freigabe.")

    mia.goto(booking_url)
    expect(mia.locator("dl.facts dt:text-is('Status') + dd")).to_have_text("bestätigt")


def test_staff_book_a_studio_slot_for_a_member_paid_in_cash_at_the_desk(page: Page, place):
    """The front desk: check the price, choose "paid at the desk in cash", book; the booking
    is confirmed at once and the payment is listed on the member's page with its method."""
    studio = place.studio
    log_in(page, place.staff.email)
    nav(page).get_by_role("link", name="Mitarbeitende").click()
    page.get_by_role("link", name="Kalender", exact=True).click()
    page.get_by_role("link", name=studio.name, exact=True).click()
    page.get_by_role("link", name=re.compile(r"^frei\W+Do\., 26\. Nov\., 10:00$")).click()
    book = page.get_by_role("region", name="Für ein Mitglied buchen")
    book.get_by_label("E-Mail-Adresse des Mitglieds").fill(place.member.email)
    book.get_by_label("Bis", exact=True).fill("12:00")
    book.get_by_role("button", name="Preis prüfen").click()

    choice = page.get_by_role("group", name="Wie bezahlt das Mitglied?")
    expect(choice.get_by_role("radio", name=re.compile("Online-Zahlung"))).to_be_checked()
    choice.get_by_role("radio", name="Am Empfang bar bezahlt").check()
    page.get_by_role("button", name="Für das Mitglied buchen").click()

    expect(page.get_by_role("status")).to_contain_text(
        re.compile(rf"Für {place.member.name} gebucht und bestätigt: 35,00\s€ am Empfang"))
    page.goto(f"/staff/members/{place.member.id}")
    payments = page.get_by_role("region", name=re.compile("^Zahlungen von"))
    expect(payments).to_contain_text("bar am Empfang")
    expect(payments).to_contain_text(place.staff.name)
    expect(payments).to_contain_text("bezahlt")
    upcoming = page.get_by_role("region", name=re.compile("^Anstehende Buchungen"))
    expect(upcoming).to_contain_text("bestätigt")
