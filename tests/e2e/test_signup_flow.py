"""A new member signs up on their own, end to end in real Chromium: register, log in, land on
the membership page, choose the Tagespass, book a desk and pay for it on the simulated
checkout. And one who asks for an on-request tier sees the request waiting.

Found by visible German text, roles and labels, like test_member_flows.py. The app's clock
stands on Monday 23 November 2026, 09:00 in Wolfsburg.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from schiller40.extensions import db
from schiller40.membership.models import SignupMode
from schiller40.models import ResourceKind

TUESDAY = "2026-11-24"
PASSWORD = "Markthalle Fahrrad Kaffee"


@pytest.fixture
def offer(factory, place):
    """The Tagespass (online, paid per booking) and Resident (on request)."""
    factory.tier(
        slug="day-pass", name="Tagespass", monthly_price_cents=0, included_desk_days=0,
        included_studio_hours=0, prices={ResourceKind.DESK: (None, 900, 1500)},
        signup_mode=SignupMode.SELF_SERVICE, position=0,
    )
    factory.tier(slug="resident", name="Resident", signup_mode=SignupMode.ON_REQUEST,
                 notice_days=90, position=2)
    db.session.commit()


def register(page: Page, name: str, email: str) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Registrieren").click()
    page.get_by_label("Vor- und Nachname").fill(name)
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort", exact=True).fill(PASSWORD)
    page.get_by_label("Passwort wiederholen").fill(PASSWORD)
    page.get_by_role("button", name="Konto erstellen").click()
    expect(page.get_by_role("status")).to_contain_text("Mitgliedschaft zu wählen")
    # On the log-in page it led to (not a fresh one: that one would forget where to go next).
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort", exact=True).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Anmelden").click()
    # After logging in, the new member is on the membership page.
    expect(page.get_by_role("heading", level=1)).to_have_text("Mitgliedschaft")


def test_register_choose_the_day_pass_book_a_desk_and_pay(page: Page, place, offer):
    register(page, "Lena Albers", "lena@example.org")
    expect(page.get_by_role("region", name="Ihre Mitgliedschaft")).to_contain_text(
        "Sie haben noch keine Mitgliedschaft.")
    day_pass = page.get_by_role("region", name="Tagespass")
    expect(day_pass).to_contain_text("Online buchbar")
    day_pass.get_by_role("button", name="Tagespass wählen").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Willkommen! Ihre Mitgliedschaft im Tarif Tagespass gilt ab heute.")

    desk = place.desks[0]
    page.goto("/resources")
    page.get_by_role("link", name=f"Buchen {desk.name}", exact=True).click()
    page.get_by_label("Datum").fill(TUESDAY)
    page.get_by_label("Tageszeit").select_option(label="Vormittag (bis 13:00 Uhr)")
    page.get_by_role("button", name="Buchen", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Bezahlung")
    pay = page.get_by_role("button", name=re.compile(r"bezahlen \(Test\)"))
    expect(pay).to_have_text("9,00\u00a0€ bezahlen (Test)")
    pay.click()

    expect(page.get_by_role("status")).to_contain_text("Ihre Zahlung ist eingegangen")
    expect(page.get_by_role("heading", level=1)).to_have_text(desk.name)
    expect(page.locator("dl.facts dt:text-is('Status') + dd")).to_have_text("bestätigt")

    page.goto("/account/membership")
    expect(page.get_by_role("region", name="Ihre Mitgliedschaft")).to_contain_text("Tagespass")


def test_asking_for_an_on_request_tier(page: Page, place, offer):
    register(page, "Rita Resident", "rita@example.org")
    resident = page.get_by_role("region", name="Resident", exact=True)
    expect(resident).to_contain_text("auf Anfrage")
    resident.get_by_label("Nachricht an das Team (freiwillig)").fill("Vertrag ab Januar.")
    resident.get_by_role("button", name="Resident anfragen").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Das Team hat Ihre Anfrage für Resident erhalten")
    expect(page.get_by_role("region", name="Ihre Mitgliedschaft")).to_contain_text(
        "Sie haben Resident am")
