"""The staff week calendar of a studio or room, and booking or moving on a member's behalf.

The clock stands on Monday 23 November 2026, 09:00 in Wolfsburg (ISO week 2026-W48)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.models import Closure
from schiller40.payments.models import Payment
from tests.helpers import MON, THU, TUE, book_hours, fresh, local, text_of, tr
from tests.html import page

from .calendar_helpers import WEEK, errors_of, flashes, in_english

STAFF_GETS = [
    "/staff/calendar",
    "/staff/calendar/studio",
    f"/staff/calendar/studio?week={WEEK}",
    "/staff/calendar/studio/new",
    "/staff/blocks",
    "/staff/approvals",
]


@pytest.mark.parametrize("url", STAFF_GETS)
def test_staff_get_every_calendar_page(staff_browser, url):
    assert staff_browser.get(url).status_code == 200


@pytest.mark.parametrize("url", STAFF_GETS)
def test_members_get_404_and_strangers_are_sent_to_log_in(member_browser, client, url):
    assert member_browser.get(url).status_code == 404
    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_members_cannot_post_to_the_calendar_forms(member_browser, place, clock):
    booking = book_hours(place.member, place.room, clock)[0]
    for url in ("/staff/calendar/studio/book", "/staff/calendar/studio/block",
                f"/staff/calendar/bookings/{booking.id}/move", "/staff/blocks/1/delete"):
        assert member_browser.post(url, data={}).status_code == 404, url
    assert member_browser.get(f"/staff/calendar/bookings/{booking.id}/move").status_code == 404


def test_the_list_offers_studios_and_rooms_not_desks(staff_browser, place):
    html = page(staff_browser.get("/staff/calendar"))
    links = {a.attrs.get("href") for a in html.find_all("a")}
    assert "/staff/calendar/studio" in links
    assert "/staff/calendar/room" in links
    assert not any(href and href.startswith("/staff/calendar/desk") for href in links)
    assert staff_browser.get("/staff/calendar/desk-a1").status_code == 404
    assert staff_browser.get("/staff/calendar/nothing-here").status_code == 404


def test_the_staff_start_page_lists_calendar_and_approvals(staff_browser):
    shown = text_of(staff_browser.get("/staff/"))
    assert "Kalender" in shown
    assert "Freigaben (0 offen)" in shown


def test_the_week_shows_bookings_buffers_blocks_and_closures(
    staff_browser, factory, place, clock,
):
    held = book_hours(place.member, place.studio, clock, day=TUE, start=10, end=12)[0]  # 1 h paid
    assert held.status is BookingStatus.HELD
    confirmed = factory.booking(resource=place.studio, user=place.staff,
                                starts_at=local(THU, 14), duration=timedelta(hours=1))
    factory.block(resource=place.studio, starts_at=local(date(2026, 11, 25), 9),
                  ends_at=local(date(2026, 11, 25), 11), reason="Neue Kameras")
    db.session.add(Closure(location_id=place.location.id, first_day=date(2026, 11, 27),
                           last_day=date(2026, 11, 27), reason="Betriebsausflug"))
    db.session.commit()

    response = staff_browser.get(f"/staff/calendar/studio?week={WEEK}")
    assert response.status_code == 200
    html = page(response)
    shown = " ".join(html.text.split())
    assert "Kalender: Studio" in shown or f"Kalender: {place.studio.name}" in shown
    caption = html.find_all("caption")[0].text
    assert "Woche 48" in caption
    # The member's name links to the booking page; the status is written out.
    links = {a.attrs.get("href") for a in html.find_all("a")}
    assert f"/bookings/{held.id}" in links
    assert f"/bookings/{confirmed.id}" in links
    assert f"/staff/calendar/bookings/{held.id}/move" in links
    assert f"/bookings/{held.id}/cancel" in links
    booked_cells = [td for td in html.find_all("td") if "cal-booking" in td.attrs.get("class", "")]
    states = " ".join(td.text for td in booked_cells)
    assert "reserviert, Zahlung ausstehend" in states
    assert "bestätigt" in states
    assert place.member.name in states
    # 10:00-12:00 is four half-hour rows; the 30-minute cleanup follows.
    held_cell = next(td for td in booked_cells if place.member.name in td.text)
    assert held_cell.attrs["rowspan"] == "4"
    assert "Reinigung" in shown
    assert "Gesperrt" in shown and "Neue Kameras" in shown
    assert "Geschlossen: Betriebsausflug" in shown
    # Sunday: the location is closed all day.
    assert "Geschlossen" in shown
    # Accessible table: caption, column and row headers; today is marked.
    assert html.find_all("th", scope="col")
    assert html.find_all("th", scope="row")
    assert html.find_all("th", **{"aria-current": "date"})
    region = html.find_all("div", role="region")[0]
    assert region.attrs["tabindex"] == "0"
    skip = next(a for a in html.find_all("a") if a.attrs.get("href") == "#cal-after")
    assert skip.text == "Kalenderraster überspringen" and html.by_id("cal-after")
    # The list layout for phones carries the same information.
    assert html.find_all("h3")


def test_free_slots_link_to_the_prefilled_form(staff_browser, place):
    html = page(staff_browser.get(f"/staff/calendar/room?week={WEEK}"))
    hrefs = [a.attrs.get("href") or "" for a in html.find_all("a")]
    assert "/staff/calendar/room/new?day=2026-11-24&start=10:00" in hrefs
    # Monday 08:30 is already past (the clock says 09:00): no link.
    assert "/staff/calendar/room/new?day=2026-11-23&start=08:30" not in hrefs
    form = page(staff_browser.get("/staff/calendar/room/new?day=2026-11-24&start=10:00"))
    assert form.by_id("booking-day").attrs["value"] == "2026-11-24"
    assert form.by_id("booking-start").attrs["value"] == "10:00"
    assert form.by_id("booking-end").attrs["value"] == "11:00"
    assert form.by_id("block-start_day").attrs["value"] == "2026-11-24"
    assert form.by_id("block-end_time").attrs["value"] == "11:00"


def test_a_mangled_prefill_link_gives_an_empty_form(staff_browser, place):
    response = staff_browser.get("/staff/calendar/room/new?day=99999-1-1&start=xx")
    assert response.status_code == 200
    assert page(response).by_id("booking-day").attrs.get("value") in (None, "")


def test_week_navigation_links_and_picker(staff_browser, place):
    html = page(staff_browser.get("/staff/calendar/room?week=2026-W01"))
    hrefs = {a.attrs.get("href") for a in html.find_all("a")}
    assert "/staff/calendar/room?week=2025-W52" in hrefs
    assert "/staff/calendar/room?week=2026-W02" in hrefs
    assert "/staff/calendar/room?week=2026-W48" in hrefs  # today
    picker = html.by_id("week")
    assert picker.attrs["value"] == "2026-W01"
    assert html.find_all("label", **{"for": "week"})


@pytest.mark.parametrize("bad", ["garbage", "2025-W53", "2026-W00", "1-W01", "9999-W01",
                                 "2026-W48\x00"])
def test_a_bad_week_is_a_message_not_an_error(staff_browser, place, bad):
    response = staff_browser.get("/staff/calendar/room", query_string={"week": bad})
    assert response.status_code == 200
    alert = page(response).find_all("div", role="alert")
    assert alert and "keine Kalenderwoche" in alert[0].text
    assert "Woche 48" in page(response).find_all("caption")[0].text


def test_the_calendar_in_english(staff_browser, place):
    in_english(place.staff)
    response = staff_browser.get(f"/staff/calendar/room?week={WEEK}")
    shown = text_of(response)
    assert "Calendar: " in shown
    assert "Previous week" in shown
    assert "Week 48" in page(response).find_all("caption")[0].text
    bad = text_of(staff_browser.get("/staff/calendar/room?week=nope"))
    assert "is not a calendar week" in bad
    assert "Calendar" in text_of(staff_browser.get("/staff/calendar"))
    assert "Book for a member" in text_of(staff_browser.get("/staff/calendar/room/new"))


def test_the_week_is_read_in_a_fixed_number_of_queries(app, staff_browser, factory, place):
    def statements(n_bookings: int, minute: int) -> int:
        for i in range(n_bookings):
            factory.booking(resource=place.room, user=factory.user(),
                            starts_at=local(TUE, 8, minute) + timedelta(hours=i),
                            duration=timedelta(minutes=30))
        for i in range(n_bookings):
            factory.block(resource=place.room,
                          starts_at=local(THU, 8, minute) + timedelta(hours=i),
                          ends_at=local(THU, 8, minute) + timedelta(hours=i, minutes=30))
        db.session.commit()
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert staff_browser.get(f"/staff/calendar/room?week={WEEK}").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    few = statements(1, 0)
    many = statements(6, 30)
    assert few == many


# --- booking on a member's behalf --------------------------------------------------------------


def _booking_form(email: str = "mia@example.org", day: str = "2026-11-26", start: str = "10:00",
                  end: str = "11:00", **extra) -> dict:
    data = {"booking-email": email, "booking-day": day, "booking-start": start,
            "booking-end": end, "booking-note": "Podcast"}
    data.update({f"booking-{k}": v for k, v in extra.items()})
    return data


def _quoted(response) -> str:
    """The price the preview step put into the form (empty if it showed a refusal)."""
    return page(response).by_id("booking-quoted").attrs.get("value") or ""


def _book(browser, url: str, data: dict):
    """As staff do it: "Check price" first, then "Book" with the price that was shown."""
    preview = browser.post(url, data={**data, "action": "preview"})
    if preview.status_code != 200:
        return preview
    return browser.post(url, data={**data, "action": "book",
                                   "booking-quoted": _quoted(preview)})


def test_staff_book_an_included_hour_for_a_member(staff_browser, place):
    response = _book(staff_browser, "/staff/calendar/studio/book", _booking_form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/staff/calendar/studio?week={WEEK}")
    booking = db.session.scalar(select(Booking))
    assert booking.user_id == place.member.id
    assert booking.created_by_id == place.staff.id
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.note == "Podcast"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "booking.created"))
    assert entry.actor_id == place.staff.id
    assert entry.details["on_behalf_of"] == place.member.id
    shown = flashes(staff_browser, response)
    assert f"Gebucht für {place.member.name}." in shown


def test_a_paid_booking_on_behalf_is_held_for_the_member_to_pay(staff_browser, place):
    response = _book(staff_browser, "/staff/calendar/studio/book",
                     _booking_form(start="10:00", end="12:00"))
    shown = flashes(staff_browser, response)
    booking = db.session.scalar(select(Booking))
    assert booking.status is BookingStatus.HELD
    assert booking.payment is not None and booking.payment.amount_cents == 3500
    assert "35,00" in shown and "E-Mail" in shown


def test_an_unknown_member_is_refused_beside_the_field(staff_browser, place):
    response = staff_browser.post("/staff/calendar/studio/book",
                                  data=_booking_form(email="nobody@example.org"))
    assert response.status_code == 422
    assert errors_of(response, "booking-email") == [
        "Es gibt kein Mitglied mit dieser E-Mail-Adresse."]
    html = page(response)
    assert html.by_id("booking-email").attrs["value"] == "nobody@example.org"
    assert html.by_id("booking-email").attrs["aria-invalid"] == "true"
    assert db.session.scalar(select(Booking)) is None


def test_end_before_start_and_missing_fields_are_refused(staff_browser, place):
    response = staff_browser.post("/staff/calendar/studio/book",
                                  data=_booking_form(start="12:00", end="11:00"))
    assert response.status_code == 422
    assert errors_of(response, "booking-end") == ["Das Ende muss nach dem Beginn liegen."]
    response = staff_browser.post("/staff/calendar/studio/book",
                                  data=_booking_form(day="", email=""))
    assert errors_of(response, "booking-day") == ["Bitte wählen Sie ein Datum."]
    assert errors_of(response, "booking-email")
    response = staff_browser.post("/staff/calendar/studio/book",
                                  data=_booking_form(day="3026-01-01"))
    assert errors_of(response, "booking-day")
    response = staff_browser.post("/staff/calendar/studio/book",
                                  data=_booking_form(note="a\x00b"))
    assert response.status_code == 422
    assert db.session.scalar(select(Booking)) is None


def test_a_conflict_is_shown_with_alternatives(staff_browser, factory, place, clock):
    book_hours(place.member, place.room, clock, day=THU, start=10, end=11)[0]
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    response = staff_browser.post("/staff/calendar/room/book",
                                  data=_booking_form(email=other.email))
    assert response.status_code == 422
    html = page(response)
    assert tr("This time is already booked.") in html.text
    alternatives = [a.attrs["href"] for a in html.find_all("a")
                    if "/staff/calendar/room/new?" in (a.attrs.get("href") or "")]
    assert alternatives
    assert db.session.scalar(select(Booking).where(Booking.user_id == other.id)) is None


def test_staff_may_book_outside_hours_and_into_a_block_only_when_ticked(
    staff_browser, factory, place,
):
    factory.block(resource=place.room, starts_at=local(THU, 9), ends_at=local(THU, 12))
    db.session.commit()
    refused = staff_browser.post("/staff/calendar/room/book", data=_booking_form())
    assert refused.status_code == 422
    assert tr("This space is not available at this time (maintenance or an event).") in text_of(refused)
    allowed = _book(staff_browser, "/staff/calendar/room/book",
                    _booking_form(override_blocks="y", override_reason="Press event"))
    assert allowed.status_code == 302
    late = _booking_form(start="20:00", end="21:00")
    assert staff_browser.post("/staff/calendar/room/book", data=late).status_code == 422
    late["booking-override_hours"] = "y"
    late["booking-override_reason"] = "Evening pitch"
    assert _book(staff_browser, "/staff/calendar/room/book", late).status_code == 302
    assert db.session.query(Booking).count() == 2


def test_the_form_offers_every_exception_and_a_reason(staff_browser, place):
    html = page(staff_browser.get("/staff/calendar/studio/new"))
    for name in ("membership", "induction", "quota", "hours", "blocks", "desk_limit"):
        box = html.by_id(f"booking-override_{name}")
        assert box is not None and box.attrs["type"] == "checkbox", name
        assert not box.attrs.get("checked")
    assert html.by_id("booking-override_reason") is not None
    assert tr("More than the desk limit") in html.text


def test_book_without_a_price_seen_shows_the_price_and_books_nothing(staff_browser, place):
    response = staff_browser.post("/staff/calendar/studio/book",
                                  data={**_booking_form(start="10:00", end="12:00"),
                                        "action": "book"})
    assert response.status_code == 200
    assert db.session.scalar(select(Booking)) is None
    assert "35,00" in text_of(response)
    assert _quoted(response) == "3500"
    buttons = [b.attrs.get("value") for b in page(response).find_all("button")]
    assert "book" in buttons


def test_a_member_without_membership_is_refused_unless_ticked_with_a_reason(
    staff_browser, factory, place, clock,
):
    guest = factory.user(email="guest@example.org")
    factory.induction(user=guest, topic="ar-vr-studio")
    db.session.commit()
    form = _booking_form(email=guest.email, start="10:00", end="12:00")
    refused = staff_browser.post("/staff/calendar/studio/book", data={**form, "action": "preview"})
    assert refused.status_code == 422
    assert tr("You need an active membership to book. Please talk to the Schiller40 team.") in \
        text_of(refused)
    assert _quoted(refused) == ""
    assert "book" not in [b.attrs.get("value") for b in page(refused).find_all("button")]
    # ticked without a reason: refused beside the field, nothing booked
    no_reason = staff_browser.post("/staff/calendar/studio/book",
                                   data={**form, "booking-override_membership": "y",
                                         "action": "preview"})
    assert no_reason.status_code == 422
    assert errors_of(no_reason, "booking-override_reason") == [
        tr("Please give a reason for setting rules aside.")]
    ticked = {**form, "booking-override_membership": "y",
              "booking-override_reason": "Guest of the startup week"}
    preview = staff_browser.post("/staff/calendar/studio/book", data={**ticked,
                                                                      "action": "preview"})
    assert preview.status_code == 200 and _quoted(preview) == "7000"
    assert "70,00" in text_of(preview)
    response = _book(staff_browser, "/staff/calendar/studio/book", ticked)
    assert response.status_code == 302
    booking = db.session.scalar(select(Booking))
    assert (booking.user_id, booking.price_gross_cents) == (guest.id, 7000)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "booking.created"))
    assert entry.details["overrides"] == {"membership": True}
    assert entry.details["override_reason"] == "Guest of the startup week"


def test_a_flex_member_without_induction_needs_the_induction_exception(
    staff_browser, factory, place,
):
    flex = factory.user(tier=place.tier, email="flex@example.org")
    db.session.commit()
    form = _booking_form(email=flex.email)
    refused = staff_browser.post("/staff/calendar/studio/book", data={**form, "action": "preview"})
    assert refused.status_code == 422
    assert tr("This studio needs an induction first. Please ask the studio team for one.") in \
        text_of(refused)
    ticked = {**form, "booking-override_induction": "y",
              "booking-override_reason": "Inducted on the spot"}
    assert _book(staff_browser, "/staff/calendar/studio/book", ticked).status_code == 302
    assert db.session.scalar(select(Booking)).user_id == flex.id


def test_a_price_that_moved_since_the_preview_is_shown_again(staff_browser, place):
    form = _booking_form(start="10:00", end="12:00")
    response = staff_browser.post("/staff/calendar/studio/book",
                                  data={**form, "action": "book", "booking-quoted": "0"})
    assert response.status_code == 422
    assert tr("The price has changed since it was shown. Please check the new price and "
              "confirm again.") in text_of(response)
    assert _quoted(response) == "3500"
    assert db.session.scalar(select(Booking)) is None
    garbage = staff_browser.post("/staff/calendar/studio/book",
                                 data={**form, "action": "book", "booking-quoted": "-1"})
    assert garbage.status_code == 422
    assert db.session.scalar(select(Booking)) is None


# --- moving ------------------------------------------------------------------------------------


def test_staff_move_a_booking_for_the_member(staff_browser, place, clock):
    booking = book_hours(place.member, place.room, clock, day=TUE, start=10, end=11)[0]
    form = page(staff_browser.get(f"/staff/calendar/bookings/{booking.id}/move"))
    assert form.by_id("day").attrs["value"] == "2026-11-24"
    assert form.by_id("start").attrs["value"] == "10:00"
    response = staff_browser.post(f"/staff/calendar/bookings/{booking.id}/move", data={
        "resource": "room", "day": "2026-11-25", "start": "14:00", "end": "15:00"})
    assert response.status_code == 302
    moved = fresh(Booking, booking.id)
    assert moved.starts_at == local(date(2026, 11, 25), 14)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "booking.rescheduled"))
    assert entry.actor_id == place.staff.id


def test_moving_onto_a_taken_time_shows_alternatives_and_changes_nothing(
    staff_browser, factory, place, clock,
):
    booking = book_hours(place.member, place.room, clock, day=TUE, start=10, end=11)[0]
    factory.booking(resource=place.room, starts_at=local(THU, 10), duration=timedelta(hours=1))
    db.session.commit()
    response = staff_browser.post(f"/staff/calendar/bookings/{booking.id}/move", data={
        "resource": "room", "day": "2026-11-26", "start": "10:00", "end": "11:00"})
    assert response.status_code == 422
    html = page(response)
    assert tr("This time is already booked.") in html.text
    assert any(f"/staff/calendar/bookings/{booking.id}/move?" in (a.attrs.get("href") or "")
               for a in html.find_all("a"))
    assert fresh(Booking, booking.id).starts_at == local(TUE, 10)
    # An alternative's link fills the form in.
    link = next(a.attrs["href"] for a in html.find_all("a")
                if f"/staff/calendar/bookings/{booking.id}/move?" in (a.attrs.get("href") or ""))
    prefilled = page(staff_browser.get(link.replace("&amp;", "&")))
    assert prefilled.by_id("start").attrs["value"] != ""


def test_moving_with_an_exception_needs_a_reason(staff_browser, place, clock):
    booking = book_hours(place.member, place.room, clock, day=TUE, start=10, end=11)[0]
    url = f"/staff/calendar/bookings/{booking.id}/move"
    late = {"resource": "room", "day": "2026-11-24", "start": "20:00", "end": "21:00",
            "override_hours": "y"}
    response = staff_browser.post(url, data=late)
    assert response.status_code == 422
    assert errors_of(response, "override_reason") == [
        tr("Please give a reason for setting rules aside.")]
    assert fresh(Booking, booking.id).starts_at == local(TUE, 10)
    moved = staff_browser.post(url, data={**late, "override_reason": "Evening pitch"})
    assert moved.status_code == 302
    assert fresh(Booking, booking.id).starts_at == local(TUE, 20)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "booking.rescheduled"))
    assert entry.details["overrides"] == {"opening_hours": True}
    assert entry.details["override_reason"] == "Evening pitch"


def test_a_past_or_cancelled_booking_cannot_be_moved(staff_browser, factory, place, clock):
    booking = factory.booking(resource=place.room, user=place.member,
                              starts_at=local(MON, 8), duration=timedelta(minutes=30))
    db.session.commit()
    response = staff_browser.get(f"/staff/calendar/bookings/{booking.id}/move")
    assert tr("This booking can no longer be changed.") in text_of(response)
    posted = staff_browser.post(f"/staff/calendar/bookings/{booking.id}/move", data={
        "resource": "room", "day": "2026-11-25", "start": "14:00", "end": "14:30"})
    assert posted.status_code == 422
    assert fresh(Booking, booking.id).starts_at == local(MON, 8)
    assert staff_browser.get("/staff/calendar/bookings/999999/move").status_code == 404


def test_a_held_booking_whose_hold_ran_out_is_not_offered_a_move(
    staff_browser, factory, place, clock,
):
    """The move page asks the booking (``can_reschedule``), as the service does: a hold that
    ran out unwritten is expired, so no form is offered that the service would refuse."""
    booking = factory.booking(resource=place.room, user=place.member, starts_at=local(TUE, 10),
                              duration=timedelta(hours=1), status=BookingStatus.HELD,
                              hold_expires_at=clock() - timedelta(minutes=1))
    db.session.commit()
    html = page(staff_browser.get(f"/staff/calendar/bookings/{booking.id}/move"))
    assert tr("This booking can no longer be changed.") in html.text
    assert html.by_id("day") is None
    assert fresh(Booking, booking.id).starts_at == local(TUE, 10)


def test_the_move_page_in_english(staff_browser, place, clock):
    booking = book_hours(place.member, place.room, clock)[0]
    in_english(place.staff)
    shown = text_of(staff_browser.get(f"/staff/calendar/bookings/{booking.id}/move"))
    assert "Move booking" in shown


def test_a_payment_is_not_created_for_a_free_booking_on_behalf(staff_browser, place):
    response = _book(staff_browser, "/staff/calendar/room/book",
                     _booking_form(email=place.staff.email))
    assert response.status_code == 302
    assert db.session.scalar(select(Payment)) is None


# --- the pure layout ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "monday", "ok"), [
    (None, date(2026, 11, 23), True),
    ("", date(2026, 11, 23), True),
    ("2026-W48", date(2026, 11, 23), True),
    (" 2026-W1 ", date(2025, 12, 29), True),
    ("2026-W53", date(2026, 12, 28), True),  # 2026 has 53 ISO weeks
    ("2025-W53", date(2026, 11, 23), False),
    ("2026-48", date(2026, 11, 23), False),
    ("2040-W01", date(2026, 11, 23), False),
])
def test_parse_week(raw, monday, ok):
    from schiller40.staff.calendar_grid import parse_week

    assert parse_week(raw, date(2026, 11, 25)) == (monday, ok)


def test_the_rows_cover_the_widest_opening_hours_in_half_hours(factory):
    from datetime import time

    from schiller40.models import OpeningHours
    from schiller40.staff.calendar_grid import hours_of

    location = factory.location(opening_hours=[
        OpeningHours(weekday=0, opens=time(8, 15), closes=time(18)),
        OpeningHours(weekday=1, opens=time(9), closes=time(19, 45)),
    ])
    assert hours_of(location) == (time(8), time(20))
    late = factory.location(opening_hours=[
        OpeningHours(weekday=4, opens=time(18), closes=time(23, 59)),
    ])
    assert hours_of(late) == (time(18), time(0))
    assert hours_of(factory.location(opening_hours=[])) == (time(8), time(20))


def test_cancel_on_behalf_from_the_calendar_with_a_full_refund(app, staff_browser, place, clock):
    from schiller40.payments.models import RefundStatus
    from tests.helpers import browser, pay

    booking = book_hours(place.member, place.studio, clock, day=TUE, start=10, end=12)[0]  # 35 EUR
    booking_id = booking.id
    pay(browser(app, place.member), booking_id)
    week = page(staff_browser.get(f"/staff/calendar/studio?week={WEEK}"))
    cancel = next(a.attrs["href"] for a in week.find_all("a")
                  if a.attrs.get("href") == f"/bookings/{booking_id}/cancel")
    form = page(staff_browser.get(cancel))
    assert {i.attrs.get("value") for i in form.find_all("input", name="refund")} == {
        "policy", "full", "none"}
    response = staff_browser.post(cancel, data={"refund": "full", "reason": "Technik defekt"})
    assert response.status_code == 302
    cancelled = fresh(Booking, booking_id)
    assert cancelled.status is BookingStatus.CANCELLED
    assert cancelled.cancelled_by_id == place.staff.id
    [refund] = cancelled.payment.refunds
    assert refund.amount_cents == 3500 and refund.status is RefundStatus.SUCCEEDED
    # The week no longer shows it.
    week = page(staff_browser.get(f"/staff/calendar/studio?week={WEEK}"))
    assert not any(a.attrs.get("href") == f"/bookings/{booking_id}" for a in week.find_all("a"))


def test_a_day_in_the_past_is_called_past_in_the_staff_forms(staff_browser, place):
    """The staff calendar's booking and block forms share the booking pages' date check: a
    past date is called past, not "not within the next two years" (issue 17)."""
    past = "Dieses Datum liegt in der Vergangenheit. Bitte wählen Sie heute oder ein späteres Datum."
    response = staff_browser.post("/staff/calendar/studio/book",
                                  data=_booking_form(day="2026-11-01"))
    assert response.status_code == 422
    assert errors_of(response, "booking-day") == [past]
    response = staff_browser.post("/staff/calendar/studio/block", data={
        "block-scope": "resource", "block-kind": "maintenance", "block-start_day": "2026-11-01",
        "block-start_time": "10:00", "block-end_day": "2026-11-30", "block-end_time": "11:00",
        "block-reason": "Wartung"})
    assert response.status_code == 422
    assert errors_of(response, "block-start_day") == [past]
    assert errors_of(response, "block-end_day") == []
    assert db.session.scalar(select(Booking)) is None
