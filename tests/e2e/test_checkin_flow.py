"""A member checks in to today's desk from the booking page, in real Chromium (German, as
the member's browser asks for). The app's clock stands on Monday 23 November 2026, 09:00."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import at

MONDAY = date(2026, 11, 23)


@pytest.fixture
def todays_desk(place, factory):
    """Made before the live server starts (which commits it): SQLite has one writer."""
    return factory.booking(resource=place.desks[0], user=place.member,
                           starts_at=at(MONDAY, 9), duration=timedelta(hours=4))


def test_a_member_checks_in_from_the_booking_page(todays_desk, mia: Page):
    booking = todays_desk
    mia.goto(f"/bookings/{booking.id}")
    section = mia.get_by_role("region", name="Check-in")
    expect(section).to_contain_text("Einchecken bis 10:30 Uhr.")
    section.get_by_role("button", name="Einchecken").click()

    expect(mia.get_by_role("status")).to_contain_text("Eingecheckt um 09:00 Uhr.")
    section = mia.get_by_role("region", name="Check-in")
    expect(section).to_contain_text("Eingecheckt um 09:00 Uhr.")
    expect(section.get_by_role("button", name="Einchecken")).to_have_count(0)

    mia.goto("/bookings")
    expect(mia.get_by_role("main")).to_contain_text("Eingecheckt um 09:00")
