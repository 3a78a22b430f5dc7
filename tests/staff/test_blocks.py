"""Block pages: create from the calendar (conflicts refused, or cancelled and refunded),
the whole location, validation beside the fields, the list of upcoming blocks and removing."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.resources.models import Block, BlockKind
from tests.helpers import THU, book_hours, browser, fresh, local, pay, text_of, tr
from tests.html import page

from .calendar_helpers import WEEK, errors_of, flashes, in_english


def form(**values) -> dict:
    data = {"scope": "resource", "kind": "maintenance", "start_day": "2026-11-26",
            "start_time": "09:00", "end_day": "2026-11-26", "end_time": "12:00",
            "reason": "Neue Kameras"}
    data.update(values)
    return {f"block-{k}": v for k, v in data.items()}


def test_staff_block_a_studio_from_the_calendar(staff_browser, place):
    response = staff_browser.post("/staff/calendar/studio/block", data=form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/staff/calendar/studio?week={WEEK}")
    assert tr("Blocked.") in flashes(staff_browser, response)
    block = db.session.scalar(select(Block))
    assert block.resource_id == place.studio.id
    assert block.kind is BlockKind.MAINTENANCE
    assert (block.starts_at, block.ends_at) == (local(THU, 9), local(THU, 12))
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "block.created"))
    week = text_of(staff_browser.get(f"/staff/calendar/studio?week={WEEK}"))
    assert "Gesperrt" in week and "Neue Kameras" in week


def test_a_block_over_several_days(staff_browser, place):
    response = staff_browser.post("/staff/calendar/room/block", data=form(
        end_day="2026-11-28", end_time="10:00", kind="event", reason="Messe"))
    assert response.status_code == 302
    block = db.session.scalar(select(Block))
    assert block.ends_at == local(date(2026, 11, 28), 10)
    week = page(staff_browser.get(f"/staff/calendar/room?week={WEEK}"))
    blocked = [td for td in week.find_all("td") if "cal-block" in (td.attrs.get("class") or "")]
    assert len(blocked) == 3  # Thursday, Friday and Saturday columns


def test_end_before_start_is_refused_beside_the_field(staff_browser, place):
    response = staff_browser.post("/staff/calendar/studio/block",
                                  data=form(end_time="08:00"))
    assert response.status_code == 422
    assert errors_of(response, "block-end_time") == [tr("The end must be after the start.")]
    html = page(response)
    assert html.by_id("block-reason").attrs["value"] == "Neue Kameras"  # kept
    assert db.session.scalar(select(Block)) is None


def test_missing_and_bad_fields_are_refused(staff_browser, place):
    response = staff_browser.post("/staff/calendar/studio/block",
                                  data=form(reason="", start_day="", kind="party"))
    assert response.status_code == 422
    assert errors_of(response, "block-reason") == [tr("Please give a reason.")]
    assert errors_of(response, "block-start_day") == [tr("Please choose a date.")]
    assert errors_of(response, "block-kind")
    response = staff_browser.post("/staff/calendar/studio/block",
                                  data=form(reason="x" * 201, scope="elsewhere"))
    assert errors_of(response, "block-reason")
    assert errors_of(response, "block-scope")
    response = staff_browser.post("/staff/calendar/studio/block",
                                  data=form(start_day="2020-01-01", end_day="2020-01-02"))
    assert errors_of(response, "block-start_day")
    response = staff_browser.post("/staff/calendar/studio/block", data=form(reason="a\x00"))
    assert response.status_code == 422
    assert db.session.scalar(select(Block)) is None


def test_a_block_that_is_already_over_is_refused(staff_browser, place):
    response = staff_browser.post("/staff/calendar/studio/block", data=form(
        start_day="2026-11-23", start_time="06:00", end_day="2026-11-23", end_time="08:00"))
    assert response.status_code == 422
    assert errors_of(response, "block-end_time") == [tr("This time is already over.")]


def test_overlapping_bookings_are_listed_and_nothing_changes(staff_browser, place, clock):
    booking = book_hours(place.member, place.studio, clock, day=THU, start=10, end=11)[0]
    response = staff_browser.post("/staff/calendar/studio/block", data=form())
    assert response.status_code == 422
    html = page(response)
    assert tr("Bookings overlap this time. Cancel them (with a full refund) or choose another "
              "time.") in text_of(response)
    region = html.find_all("div", role="region")
    assert region and place.member.name in region[0].text
    assert any(a.attrs.get("href") == f"/bookings/{booking.id}" for a in html.find_all("a"))
    assert db.session.scalar(select(Block)) is None
    assert fresh(Booking, booking.id).status is BookingStatus.CONFIRMED


def test_ticking_cancel_cancels_and_refunds_in_full(app, staff_browser, place, clock):
    paid = book_hours(place.member, place.studio, clock, day=THU, start=9, end=11)[0]
    pay(browser(app, place.member), paid.id)
    response = staff_browser.post("/staff/calendar/studio/block",
                                  data=form(cancel_conflicting="y"))
    assert response.status_code == 302
    shown = flashes(staff_browser, response)
    assert "1 Buchung(en) storniert" in shown and "35,00" in shown
    booking = fresh(Booking, paid.id)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.payment.refunded_cents == 3500
    assert db.session.scalar(select(Block)) is not None


def test_a_whole_location_block(staff_browser, place, clock):
    response = staff_browser.post("/staff/calendar/room/block",
                                  data=form(scope="location", kind="closure",
                                            reason="Betriebsversammlung"))
    assert response.status_code == 302
    block = db.session.scalar(select(Block))
    assert block.resource_id is None and block.location_id == place.location.id
    studio_week = text_of(staff_browser.get(f"/staff/calendar/studio?week={WEEK}"))
    assert "Betriebsversammlung" in studio_week and "ganzes Haus" in studio_week


def test_the_list_shows_upcoming_blocks_and_removes_one(staff_browser, factory, place, clock):
    factory.block(resource=place.room, starts_at=clock() - timedelta(days=2),
                  ends_at=clock() - timedelta(days=1), reason="Vorbei")
    block = factory.block(resource=place.studio, starts_at=local(THU, 9),
                          ends_at=local(THU, 12), reason="Neue Kameras")
    db.session.commit()
    block_id = block.id
    html = page(staff_browser.get("/staff/blocks"))
    shown = " ".join(html.text.split())
    assert "Neue Kameras" in shown and "Vorbei" not in shown
    assert html.find_all("caption") and html.find_all("th", scope="col")
    assert any(a.attrs.get("href") == f"/staff/calendar/studio?week={WEEK}"
               for a in html.find_all("a"))

    response = staff_browser.post(f"/staff/blocks/{block_id}/delete")
    assert tr("The block is removed; the time can be booked again.") in flashes(
        staff_browser, response)
    assert fresh(Block, block_id) is None
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "block.deleted"))
    assert staff_browser.post(f"/staff/blocks/{block_id}/delete").status_code == 404


def test_removing_goes_back_to_the_calendar_only(staff_browser, factory, place):
    one = factory.block(resource=place.studio, reason="A").id
    two = factory.block(resource=place.studio, reason="B").id
    db.session.commit()
    week = page(staff_browser.get(f"/staff/calendar/studio?week={WEEK}"))
    assert any(f.attrs.get("action") == f"/staff/blocks/{one}/delete"
               for f in week.find_all("form"))
    back = staff_browser.post(f"/staff/blocks/{one}/delete",
                              data={"next": "/staff/calendar/studio?week=2026-W48"})
    assert back.headers["Location"].endswith("/staff/calendar/studio?week=2026-W48")
    away = staff_browser.post(f"/staff/blocks/{two}/delete",
                              data={"next": "https://evil.example/"})
    assert away.headers["Location"].endswith("/staff/blocks")


def test_a_member_cannot_remove_a_block(member_browser, factory, place):
    block = factory.block(resource=place.studio)
    db.session.commit()
    assert member_browser.post(f"/staff/blocks/{block.id}/delete").status_code == 404
    assert fresh(Block, block.id) is not None


def test_block_pages_in_english(staff_browser, factory, place):
    factory.block(resource=place.studio, reason="New cameras")
    in_english(place.staff)
    assert "Upcoming blocks" in text_of(staff_browser.get("/staff/blocks"))
    response = staff_browser.post("/staff/calendar/studio/block", data=form(end_time="08:00"))
    assert errors_of(response, "block-end_time") == ["The end must be after the start."]
    assert "Block this time" in text_of(response)
