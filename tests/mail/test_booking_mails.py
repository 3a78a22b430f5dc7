"""The booking mails for changes and cancellations: queued by the booking service with the
change, sent by the worker to the SMTP server, in the member's language, with the booking's
calendar invitation (REQUEST for a change, CANCEL for a cancellation; the feed's UID, a
SEQUENCE that rises)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schiller40.booking.cancel import cancel
from schiller40.booking.models import Booking, BookingStatus
from schiller40.booking.reschedule import reschedule
from schiller40.booking.settings import current_settings
from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from schiller40.members import privacy
from schiller40.payments.setup import gateway
from schiller40.resources.models import BlockKind
from schiller40.venue import blocks
from tests.factories import PASSWORD
from tests.helpers import FRI, TUE, at, book, browser, fresh, pay

from .checks import money_text, readable, set_locale, time_text, tr
from .helpers import invitation, run_tick

LOCALES = ["de", "en"]


def queued(topic: str) -> list[OutboxMessage]:
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)))


def studio_booking(place, clock, inbox) -> Booking:
    """A confirmed studio hour on Tuesday (included credit), its confirmation already sent."""
    (booking,) = book(place.member, clock, resource_slug="studio", start=at(TUE, 10),
                      end=at(TUE, 11)).bookings
    run_tick(clock)
    assert invitation(inbox.only()).vevent.sequence.value == "0"
    inbox.clear()
    return booking


def paid_room(app, place, clock, inbox, day=FRI) -> Booking:
    """A paid meeting-room hour (paid on the simulated checkout), confirmation mail sent."""
    (booking,) = book(place.member, clock, resource_slug="room", start=at(day, 10),
                      end=at(day, 11)).bookings
    assert booking.status is BookingStatus.HELD and booking.price_gross_cents > 0
    pay(browser(app, place.member), booking.id)
    run_tick(clock)
    inbox.clear()
    booking = fresh(Booking, booking.id)
    assert booking.status is BookingStatus.CONFIRMED
    return booking


# --- changed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_a_moved_booking_mails_old_and_new_time_with_an_updated_invitation(
    place, clock, inbox, locale
):
    set_locale(place.member, locale)
    booking = studio_booking(place, clock, inbox)
    old = (booking.starts_at, booking.ends_at)
    reschedule(db.session, actor=place.member, booking_id=booking.id,
               start=at(TUE, 14), end=at(TUE, 15), now=clock())
    [row] = queued("mail.booking_changed")
    assert row.payload == {
        "booking_id": booking.id, "old_start": old[0].isoformat(),
        "old_end": old[1].isoformat(), "old_resource": place.studio.id, "by_staff": False,
    }
    assert inbox.messages == []  # only the worker sends

    assert run_tick(clock).delivery.sent == 1
    message = inbox.only()
    booking = fresh(Booking, booking.id)
    text, _html = readable(
        message, to=place.member.email, locale=locale,
        subject=tr("Booking changed: %(name)s", locale, name=place.studio.name),
        says=[tr("your booking has been changed as you asked.", locale),
              f"{tr('Before:', locale)} {place.studio.name}, {time_text(*old, locale)}",
              time_text(at(TUE, 14), at(TUE, 15), locale)],
        link=f"http://127.0.0.1:5000/bookings/{booking.id}",
    )
    assert text.index(time_text(*old, locale)) < text.index(tr("Now:", locale))
    calendar = invitation(message)
    assert calendar.method.value == "REQUEST"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    assert calendar.vevent.dtstart.value == at(TUE, 14)
    assert calendar.vevent.dtend.value == at(TUE, 15)
    # The service raised SEQUENCE with the move, so calendars replace the event they have.
    assert booking.sequence == 1 and calendar.vevent.sequence.value == "1"


def test_a_move_by_staff_says_the_team_changed_it(place, clock, inbox):
    booking = studio_booking(place, clock, inbox)
    reschedule(db.session, actor=place.staff, booking_id=booking.id,
               start=at(TUE, 12), end=at(TUE, 13), now=clock())
    [row] = queued("mail.booking_changed")
    assert row.payload["by_staff"] is True and row.user_id == place.member.id
    run_tick(clock)
    readable(inbox.only(), to=place.member.email, locale="de",
             subject=tr("Booking changed: %(name)s", "de", name=place.studio.name),
             says=[tr("the Schiller40 team has changed your booking.", "de")])


def test_a_move_in_the_staff_calendar_mails_the_member(app, place, clock, inbox):
    """The staff week calendar's move form goes through the same service."""
    booking = studio_booking(place, clock, inbox)
    staff = browser(app, place.staff)
    response = staff.post(f"/staff/calendar/bookings/{booking.id}/move", data={
        "resource": "studio", "day": "2026-11-24", "start": "12:00", "end": "13:00"})
    assert response.status_code == 302, response.data[:300]
    assert fresh(Booking, booking.id).starts_at == at(TUE, 12)
    run_tick(clock)
    message = inbox.only()
    readable(message, to=place.member.email, locale="de",
             subject=tr("Booking changed: %(name)s", "de", name=place.studio.name),
             says=[tr("the Schiller40 team has changed your booking.", "de"),
                   time_text(at(TUE, 12), at(TUE, 13), "de")])
    assert invitation(message).vevent.sequence.value == "1"


def test_a_change_then_cancelled_before_sending_says_only_cancelled(place, clock, inbox):
    booking = studio_booking(place, clock, inbox)
    reschedule(db.session, actor=place.member, booking_id=booking.id,
               start=at(TUE, 14), end=at(TUE, 15), now=clock())
    cancel(db.session, actor=place.member, booking_id=booking.id, now=clock())
    report = run_tick(clock)
    assert (report.delivery.sent, report.delivery.skipped) == (1, 1)
    calendar = invitation(inbox.only())
    assert calendar.method.value == "CANCEL" and calendar.vevent.sequence.value == "2"


# --- cancelled ---------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_a_free_booking_cancelled_by_the_member(place, clock, inbox, locale):
    set_locale(place.member, locale)
    booking = studio_booking(place, clock, inbox)
    cancel(db.session, actor=place.member, booking_id=booking.id, now=clock())
    [row] = queued("mail.booking_cancelled")
    assert row.payload == {
        "booking_ids": [booking.id], "refund_cents": 0, "by_staff": False, "reason": "",
        "paid_cents": 0, "payment_state": "unpaid",
    }
    run_tick(clock)
    message = inbox.only()
    text, _html = readable(
        message, to=place.member.email, locale=locale,
        subject=tr("Booking cancelled: %(name)s", locale, name=place.studio.name),
        says=[tr("as you asked, your booking is cancelled:", locale),
              time_text(booking.starts_at, booking.ends_at, locale),
              tr("The booking was free of charge: there is nothing to refund.", locale)],
        link=f"http://127.0.0.1:5000/bookings/{booking.id}",
    )
    assert tr("the Schiller40 team has cancelled your booking:", locale) not in text
    calendar = invitation(message)
    booking = fresh(Booking, booking.id)
    assert calendar.method.value == "CANCEL"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    assert calendar.vevent.status.value == "CANCELLED"
    assert calendar.vevent.sequence.value == str(booking.sequence) == "1"


def cancellation_with_refund_receipt(inbox, locale: str):
    """A refunded cancellation is two mails: "cancelled" (with the amount) and, once the
    gateway has made the refund, "refund issued" (mail/payment_messages.py). The first."""
    assert len(inbox.messages) == 2, [m["Subject"] for m in inbox.messages]
    refund_words = "Erstattung" if locale == "de" else "Refund"
    [refund] = [m for m in inbox.messages if m["Subject"].startswith(refund_words)]
    [cancelled] = [m for m in inbox.messages if m is not refund]
    return cancelled


@pytest.mark.parametrize("locale", LOCALES)
def test_a_paid_booking_cancelled_in_time_states_the_refund(app, place, clock, inbox, locale):
    set_locale(place.member, locale)
    booking = paid_room(app, place, clock, inbox)
    cancel(db.session, actor=place.member, booking_id=booking.id, now=clock(),
           settings=current_settings())
    [row] = queued("mail.booking_cancelled")
    assert row.payload["refund_cents"] == booking.price_gross_cents  # 100 %: days ahead
    run_tick(clock)
    message = cancellation_with_refund_receipt(inbox, locale)
    readable(
        message, to=place.member.email, locale=locale,
        subject=tr("Booking cancelled: %(name)s", locale, name=place.room.name),
        says=[tr("You get %(amount)s back. The refund goes to the card or account you paid "
                 "with; depending on your bank it can take a few days to show.", locale,
                 amount=money_text(booking.price_gross_cents, locale))],
    )
    assert invitation(message).method.value == "CANCEL"


def test_a_paid_booking_cancelled_late_gets_no_refund_and_says_so(app, place, clock, inbox):
    booking = paid_room(app, place, clock, inbox, day=TUE)
    clock.set(at(TUE, 9, 30))  # half an hour before: nothing back under the terms
    cancel(db.session, actor=place.member, booking_id=booking.id, now=clock(),
           settings=current_settings())
    [row] = queued("mail.booking_cancelled")
    assert (row.payload["refund_cents"], row.payload["paid_cents"]) == (
        0, booking.price_gross_cents)
    run_tick(clock)
    text, _html = readable(
        inbox.only(), to=place.member.email, locale="de",
        subject=tr("Booking cancelled: %(name)s", "de", name=place.room.name),
        says=[tr("Under the cancellation terms there is no refund for this booking.", "de")],
    )
    assert "€" not in text.split("--")[0].replace(
        tr("Price: %(amount)s incl. VAT", "de", amount=""), "")


def test_an_unpaid_reservation_cancelled_says_nothing_was_charged(place, clock, inbox):
    (booking,) = book(place.member, clock, resource_slug="room", start=at(TUE, 10),
                      end=at(TUE, 11)).bookings
    cancel(db.session, actor=place.member, booking_id=booking.id, now=clock())
    run_tick(clock)
    readable(inbox.only(), to=place.member.email, locale="de",
             subject=tr("Booking cancelled: %(name)s", "de", name=place.room.name),
             says=[tr("Nothing was charged, so there is nothing to refund.", "de")])


@pytest.mark.parametrize("locale", LOCALES)
def test_a_staff_block_cancelling_with_full_refund_mails_reason_and_refund(
    app, place, clock, inbox, locale
):
    set_locale(place.member, locale)
    booking = paid_room(app, place, clock, inbox)
    outcome = blocks.create_block(
        db.session, gateway(), actor=place.staff, resource_id=place.room.id,
        kind=BlockKind.MAINTENANCE, start=at(FRI, 8), end=at(FRI, 12), reason="Wasserschaden",
        cancel_conflicting=True, now=clock(), settings=current_settings(),
    )
    assert outcome.cancelled == [booking.id]
    [row] = queued("mail.booking_cancelled")
    assert row.payload["by_staff"] is True
    assert "Wasserschaden" in row.payload["reason"]
    assert row.payload["refund_cents"] == booking.price_gross_cents
    run_tick(clock)
    message = cancellation_with_refund_receipt(inbox, locale)
    readable(
        message, to=place.member.email, locale=locale,
        subject=tr("Booking cancelled: %(name)s", locale, name=place.room.name),
        says=[tr("the Schiller40 team has cancelled your booking:", locale),
              "Wasserschaden", money_text(booking.price_gross_cents, locale),
              tr("We are sorry for the inconvenience. If you have questions, simply reply to "
                 "this message.", locale)],
    )
    calendar = invitation(message)
    assert calendar.method.value == "CANCEL"
    assert calendar.vevent.uid.value.startswith(booking.uid)


def test_deleting_the_account_cancels_without_mail(place, clock, inbox):
    booking = studio_booking(place, clock, inbox)
    privacy.delete_account(
        db.session, gateway(), actor=place.member, user=place.member, password=PASSWORD,
        now=clock(), settings=current_settings(),
    )
    assert fresh(Booking, booking.id).status is BookingStatus.CANCELLED
    assert queued("mail.booking_cancelled") == []
    run_tick(clock)
    assert inbox.messages == []


def test_a_cancellation_mail_for_a_since_deleted_account_is_not_sent(place, clock, inbox):
    booking = studio_booking(place, clock, inbox)
    cancel(db.session, actor=place.staff, booking_id=booking.id, now=clock(),
           reason="Veranstaltung")
    place.member.deleted_at = clock()
    db.session.commit()
    report = run_tick(clock)
    assert (report.delivery.skipped, inbox.messages) == (1, [])


def test_every_booking_topic_has_its_builder(app):
    from schiller40.mail.catalog import load

    assert {"mail.booking_confirmed", "mail.booking_changed", "mail.booking_cancelled",
            "mail.hold_expired", "mail.booking_reminder", "mail.waitlist_offer"} <= set(load())
