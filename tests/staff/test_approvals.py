"""The approvals list: studio bookings whose card is authorised, oldest first, approved or
rejected from the list through the payments service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.payments.models import PaymentStatus
from tests.helpers import THU, TUE, book_hours, fresh, pay, text_of, tr
from tests.html import page

from .calendar_helpers import flashes, in_english


@pytest.fixture
def approval_studio(place):
    place.studio.requires_approval = True
    db.session.commit()
    return place


def authorised(member_browser, place, clock, *, day=TUE, start=10) -> int:
    """A two-hour studio booking (one hour paid) whose card is authorised on the checkout."""
    booking = book_hours(place.member, place.studio, clock, day=day, start=start, end=start + 2)[0]
    booking_id = booking.id
    pay(member_browser, booking_id)
    assert fresh(Booking, booking_id).payment.status is PaymentStatus.AUTHORIZED
    return booking_id


def test_nothing_waiting(staff_browser, place):
    response = staff_browser.get("/staff/approvals")
    assert response.status_code == 200
    assert tr("Nothing is waiting for approval.") in text_of(response)


def test_waiting_bookings_are_listed_oldest_first_with_the_deadline(
    staff_browser, member_browser, approval_studio, clock,
):
    first = authorised(member_browser, approval_studio, clock, day=THU, start=10)
    clock.advance(timedelta(minutes=5))
    second = authorised(member_browser, approval_studio, clock, day=TUE, start=14)
    html = page(staff_browser.get("/staff/approvals"))
    headings = [h.attrs.get("id") for h in html.find_all("h2")]
    assert headings.index(f"approval-{first}") < headings.index(f"approval-{second}")
    shown = " ".join(html.text.split())
    assert approval_studio.member.name in shown
    assert tr("Decide by") in shown
    forms = {f.attrs.get("action") for f in html.find_all("form")}
    assert f"/staff/approvals/{first}/approve" in forms
    assert f"/staff/approvals/{second}/reject" in forms
    assert html.find_all("label", **{"for": f"reason-{first}"})
    assert "Freigaben (2 offen)" in text_of(staff_browser.get("/staff/"))


def test_approve_from_the_list_confirms_and_charges(
    staff_browser, member_browser, approval_studio, clock,
):
    booking_id = authorised(member_browser, approval_studio, clock)
    response = staff_browser.post(f"/staff/approvals/{booking_id}/approve")
    assert response.headers["Location"].endswith("/staff/approvals")
    shown = flashes(staff_browser, response)
    assert tr("Approved: the booking of %(name)s is confirmed and the amount charged.",
              name=approval_studio.member.name) in shown
    booking = fresh(Booking, booking_id)
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.payment.status is PaymentStatus.PAID
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "booking.approved"))
    assert tr("Nothing is waiting for approval.") in text_of(staff_browser.get("/staff/approvals"))
    # Deciding twice is a message, not an error page.
    again = staff_browser.post(f"/staff/approvals/{booking_id}/approve")
    assert tr("This booking is not waiting for approval.") in flashes(staff_browser, again)


def test_reject_from_the_list_cancels_and_releases(
    staff_browser, member_browser, approval_studio, clock,
):
    booking_id = authorised(member_browser, approval_studio, clock)
    response = staff_browser.post(f"/staff/approvals/{booking_id}/reject",
                                  data={"reason": "Studio an dem Tag belegt"})
    assert tr("Rejected: the booking of %(name)s is cancelled and the card authorisation "
              "released.", name=approval_studio.member.name) in flashes(staff_browser, response)
    booking = fresh(Booking, booking_id)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.cancel_reason == "Studio an dem Tag belegt"
    assert booking.payment.status is PaymentStatus.CANCELLED
    again = staff_browser.post(f"/staff/approvals/{booking_id}/reject", data={"reason": ""})
    assert tr("This booking is not waiting for approval.") in flashes(staff_browser, again)


def test_a_too_long_or_bad_reason_changes_nothing(
    staff_browser, member_browser, approval_studio, clock,
):
    booking_id = authorised(member_browser, approval_studio, clock)
    for reason in ("x" * 501, "a\x00b"):
        response = staff_browser.post(f"/staff/approvals/{booking_id}/reject",
                                      data={"reason": reason})
        assert response.status_code == 302
        assert fresh(Booking, booking_id).status is BookingStatus.HELD


def test_held_unpaid_and_expired_bookings_are_not_listed(
    staff_browser, member_browser, approval_studio, clock,
):
    unpaid = book_hours(approval_studio.member, approval_studio.studio, clock, start=16, end=18)[0]
    booking_id = authorised(member_browser, approval_studio, clock)
    html = page(staff_browser.get("/staff/approvals"))
    ids = {h.attrs.get("id") for h in html.find_all("h2")}
    assert f"approval-{booking_id}" in ids and f"approval-{unpaid.id}" not in ids
    clock.advance(timedelta(days=7))  # past the approval deadline
    assert tr("Nothing is waiting for approval.") in text_of(staff_browser.get("/staff/approvals"))


def test_the_calendar_marks_a_booking_awaiting_approval(
    staff_browser, member_browser, approval_studio, clock,
):
    authorised(member_browser, approval_studio, clock)
    week = text_of(staff_browser.get("/staff/calendar/studio?week=2026-W48"))
    assert "wartet auf Freigabe" in week


def test_members_and_strangers_cannot_decide(
    member_browser, client, approval_studio, clock,
):
    booking_id = authorised(member_browser, approval_studio, clock)
    for url in (f"/staff/approvals/{booking_id}/approve", f"/staff/approvals/{booking_id}/reject"):
        assert member_browser.post(url).status_code == 404
        assert "/login" in client.post(url).headers["Location"]
    assert fresh(Booking, booking_id).status is BookingStatus.HELD


def test_approvals_in_english(staff_browser, member_browser, approval_studio, clock):
    authorised(member_browser, approval_studio, clock)
    in_english(approval_studio.staff)
    shown = text_of(staff_browser.get("/staff/approvals"))
    assert "Approve and charge" in shown and "Decide by" in shown
    assert "Approvals (1 open)" in text_of(staff_browser.get("/staff/"))
