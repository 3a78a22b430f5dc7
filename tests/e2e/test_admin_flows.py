"""What staff do in the browser on the administration pages, in real Chromium with CSRF on:
add a room through the form (with one mistake first), switch it off and on, and close the
location for a day over an existing booking. Found by labels and roles, like the member flows.
"""

from __future__ import annotations

from datetime import date, time

from playwright.sync_api import Page, expect
from sqlalchemy import select

from schiller40.booking.snapshots import location_rules
from schiller40.extensions import db
from schiller40.models import Closure, Resource

from .conftest import log_in


def test_staff_add_a_room_after_fixing_a_mistake_and_deactivate_it(page: Page, place):
    log_in(page, place.staff.email)
    page.goto("/staff/")
    page.get_by_role("link", name="Räume & Plätze").click()
    page.get_by_role("link", name="Raum oder Platz hinzufügen").click()
    page.get_by_label("Kurzname für die Adresse").fill("Raum Zwei")
    page.get_by_label("Name", exact=True).fill("Besprechungsraum Zwei")
    page.get_by_label("Kürzeste Buchung (Minuten)").fill("45")
    page.get_by_role("button", name="Anlegen").click()

    expect(page.locator("#slug-error")).to_contain_text("Kleinbuchstaben")
    expect(page.locator("#min_duration_minutes-error")).to_contain_text("Vielfaches von 30")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Besprechungsraum Zwei")
    page.get_by_label("Kurzname für die Adresse").fill("raum-zwei")
    page.get_by_label("Kürzeste Buchung (Minuten)").fill("60")
    page.get_by_role("button", name="Anlegen").click()
    expect(page.get_by_role("status")).to_contain_text("Besprechungsraum Zwei wurde angelegt.")

    page.get_by_role("link", name="Besprechungsraum Zwei").click()
    page.get_by_role("button", name="Deaktivieren").click()
    expect(page.get_by_role("status")).to_contain_text("ist deaktiviert")
    db.session.commit()  # end the test's read transaction: see what the server wrote
    room = db.session.scalar(select(Resource).where(Resource.slug == "raum-zwei"))
    assert room.is_active is False and room.min_duration_minutes == 60
    page.get_by_role("button", name="Wieder aktivieren").click()
    expect(page.get_by_role("status")).to_contain_text("kann wieder gebucht werden")


def test_staff_close_a_day_over_a_booking_after_the_warning(page: Page, place, factory):
    rules = location_rules(place.location, {2026})
    factory.booking(resource=place.room, user=place.member,
                    starts_at=rules.local(date(2026, 11, 26), time(10)))
    db.session.commit()
    log_in(page, place.staff.email)
    page.goto("/staff/location")
    page.get_by_label("Erster Schließtag").fill("2026-11-26")
    page.get_by_label("Letzter Schließtag").fill("2026-11-26")
    page.get_by_label("Grund").fill("Wasserschaden")
    page.get_by_role("button", name="Schließzeit hinzufügen").click()

    expect(page.get_by_role("alert")).to_contain_text("1 Buchung liegt auf diesen Tagen.")
    expect(page.get_by_role("alert")).to_contain_text(place.member.name)
    page.get_by_role("button", name="Schließzeit trotzdem hinzufügen").click()
    expect(page.get_by_role("status")).to_contain_text("Die Schließzeit wurde hinzugefügt.")
    expect(page.get_by_role("table")).to_contain_text("1 Buchung noch zu stornieren")
    db.session.commit()  # end the test's read transaction: see what the server wrote
    assert [c.reason for c in db.session.scalars(select(Closure))] == ["Wasserschaden"]
