"""What staff see and do about check-in: the day's desks with a check-in button, check-in in
the studio calendar, and members' no-shows on the member pages (counted in one query)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from schiller40.booking.models import BookingStatus
from schiller40.extensions import db
from tests.helpers import MON, at
from tests.html import page

from ..mail.helpers import run_tick


def desk(factory, place, *, user=None, n=0, hh=9, **kw):
    return factory.booking(resource=place.desks[n], user=user or place.member,
                           starts_at=at(MON, hh), duration=timedelta(hours=4), **kw)


def statements(client, path: str) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


@pytest.fixture
def english(place):
    place.staff.locale = "en"
    db.session.commit()


def test_members_do_not_see_the_desk_list(member_browser, place):
    assert member_browser.get("/staff/desks").status_code == 404


def test_the_desk_list_shows_who_is_checked_in_and_checks_in(
    staff_browser, place, factory, clock, english
):
    here = desk(factory, place, n=0)
    late = desk(factory, place, n=1, user=factory.user(name="Lara Late"), hh=7)
    tomorrow = factory.booking(resource=place.desks[2], user=place.member,
                               starts_at=at(MON, 9) + timedelta(days=1))
    factory.booking(resource=place.studio, user=place.member, starts_at=at(MON, 10))
    db.session.commit()
    html = page(staff_browser.get("/staff/desks"))
    rows = html.by_id("desks-caption")
    assert rows is not None
    assert "2 desk bookings: 0 checked in, 0 released as no-shows." in html.text
    assert "Not checked in yet (by 10:30 AM)" in html.text
    assert "Not checked in: due for release (deadline 8:30 AM)" in html.text
    actions = {f.attrs["action"] for f in html.find_all("form")
               if f.attrs.get("action", "").endswith("/check-in")}
    assert actions == {f"/bookings/{here.id}/check-in", f"/bookings/{late.id}/check-in"}
    response = staff_browser.post(f"/bookings/{late.id}/check-in",
                                  data={"next": "/staff/desks"})
    assert response.headers["Location"] == "/staff/desks"
    db.session.expire_all()
    assert late.checked_in_at == clock()
    html = page(staff_browser.get("/staff/desks"))
    assert "Checked in at 9:00 AM" in html.text
    assert "2 desk bookings: 1 checked in" in html.text
    assert f"/bookings/{tomorrow.id}" not in staff_browser.get("/staff/desks").get_data(
        as_text=True)
    other_day = page(staff_browser.get("/staff/desks?day=2026-11-24"))
    assert "1 desk booking:" in other_day.text
    assert not [f for f in other_day.find_all("form")
                if f.attrs.get("action", "").endswith("/check-in")]


def test_released_desks_are_listed_as_such(staff_browser, place, factory, clock, english):
    desk(factory, place)
    clock.advance(timedelta(minutes=90))
    run_tick(clock)
    html = page(staff_browser.get("/staff/desks"))
    assert "1 released as no-shows" in html.text
    assert "Released at 10:30 AM (nobody checked in)" in html.text


@pytest.mark.parametrize("day", ["nonsense", "1999-01-01"])
def test_a_bad_day_is_explained(staff_browser, place, day):
    response = staff_browser.get(f"/staff/desks?day={day}")
    assert response.status_code == 422
    assert page(response).find_all("ul", **{"class": "errors"})


def test_the_desk_list_costs_the_same_for_many_desks(staff_browser, place, factory):
    desk(factory, place, n=0)
    db.session.commit()
    few = statements(staff_browser, "/staff/desks")
    for n in (1, 2, 3):
        desk(factory, place, n=n, user=factory.user())
    db.session.commit()
    assert statements(staff_browser, "/staff/desks") == few


def test_staff_check_in_a_studio_from_its_calendar(staff_browser, place, factory, clock,
                                                   english):
    booking = factory.booking(resource=place.studio, user=place.member,
                              starts_at=at(MON, 10))
    db.session.commit()
    html = page(staff_browser.get("/staff/calendar/studio"))
    assert [f for f in html.find_all("form")
            if f.attrs.get("action") == f"/bookings/{booking.id}/check-in"]
    staff_browser.post(f"/bookings/{booking.id}/check-in",
                       data={"next": "/staff/calendar/studio"})
    assert "checked in at 09:00" in page(staff_browser.get("/staff/calendar/studio")).text
    # The member cannot check in a studio themself.
    db.session.expire_all()
    assert booking.status is BookingStatus.CONFIRMED and booking.checked_in_at == clock()


def test_the_member_profile_lists_no_shows_of_90_days(staff_browser, place, factory, clock,
                                                      english):
    for days in (3, 50):
        desk(factory, place, status=BookingStatus.CANCELLED,
             no_show_at=clock() - timedelta(days=days))
    desk(factory, place, status=BookingStatus.CANCELLED,
         no_show_at=clock() - timedelta(days=120))
    db.session.commit()
    section = page(staff_browser.get(f"/staff/members/{place.member.id}")).by_id("no-shows")
    assert "repeated no-shows" in section.text
    assert "2 desks released because nobody checked in, in the last 90 days" in section.text
    assert len(page(staff_browser.get(f"/staff/members/{place.member.id}")).find_all(
        "li")) > 0
    other = page(staff_browser.get(f"/staff/members/{place.staff.id}")).by_id("no-shows")
    assert "No no-shows in the last 90 days." in other.text


def test_the_german_profile(staff_browser, place, factory, clock):
    desk(factory, place, status=BookingStatus.CANCELLED, no_show_at=clock())
    db.session.commit()
    section = page(staff_browser.get(f"/staff/members/{place.member.id}")).by_id("no-shows")
    assert "Nichterscheinen" in section.text


def test_the_member_list_flags_repeated_no_shows_and_filters(staff_browser, place, factory,
                                                             clock, english):
    once = factory.user(name="Olli Once")
    for days in (1, 2):
        desk(factory, place, status=BookingStatus.CANCELLED,
             no_show_at=clock() - timedelta(days=days))
    desk(factory, place, user=once, status=BookingStatus.CANCELLED, no_show_at=clock())
    db.session.commit()
    html = page(staff_browser.get("/staff/members"))
    flagged = [e.text for e in html.find_all("strong", **{"class": "tag"})]
    assert flagged == ["2 no-shows"]
    assert "1 no-show" in html.text
    only = page(staff_browser.get("/staff/members?no_shows=y"))
    assert "1 member found" in only.text and place.member.name in only.text
    assert "Olli Once" not in only.text


def test_the_member_list_counts_no_shows_in_one_query(staff_browser, place, factory, clock):
    desk(factory, place, status=BookingStatus.CANCELLED, no_show_at=clock())
    db.session.commit()
    few = statements(staff_browser, "/staff/members")
    for _ in range(4):
        user = factory.user()
        desk(factory, place, user=user, status=BookingStatus.CANCELLED, no_show_at=clock())
    db.session.commit()
    assert statements(staff_browser, "/staff/members") == few
