"""Mails around bookings that staff make or must decide: the member hears at once of a paid
booking staff made for them (the way to pay, until when it is held, a tentative calendar
entry), and the staff address hears of a studio booking that waits for approval."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from schiller40.booking.cancel import cancel
from schiller40.booking.create import create_bookings
from schiller40.booking.models import BookingStatus
from schiller40.booking.requests import BookingRequest
from schiller40.core.money import money
from schiller40.extensions import db
from tests.helpers import TUE, at, fresh

from ..mailbox import body
from .helpers import invitation, run_tick
from .test_payment_mails import authorised, event, fake, rows, sent  # noqa: F401

STAFF_ADDRESS = "studio@schiller40.example"


def staff_books(place, clock, **kw):
    wanted = {"resource_slug": "studio", "start": at(TUE, 10), "end": at(TUE, 12), **kw}
    return create_bookings(
        db.session, actor=place.staff, for_user=place.member, now=clock(),
        request=BookingRequest(**wanted),
    )


@pytest.mark.parametrize("locale", ["de", "en"])
def test_the_member_gets_the_pay_link_and_the_calendar_file_at_once(
    place, clock, inbox, locale
):
    place.member.locale = locale
    db.session.commit()
    (booking,) = staff_books(place, clock).bookings
    assert booking.status is BookingStatus.HELD
    run_tick(clock)  # the worker's next pass, not the end of the hold
    [message] = sent(inbox, "mail.booking_to_pay")
    assert message["To"].addresses[0].addr_spec == place.member.email
    text, html = body(message), body(message, "html")
    pay_link = f"/bookings/{booking.id}"
    assert pay_link in text and pay_link in html
    with force_locale(locale):
        assert money(3500) in text
    if locale == "de":
        assert message["Subject"] == f"Für Sie gebucht, bitte bezahlen: {place.studio.name}"
        assert "Jetzt bezahlen" in html
    else:
        assert message["Subject"] == f"Booked for you, please pay: {place.studio.name}"
        assert "Pay now" in html
    calendar = invitation(message)
    assert calendar.method.value == "REQUEST"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    assert calendar.vevent.status.value == "TENTATIVE"


def test_no_such_mail_once_the_booking_is_paid_or_cancelled(place, clock, inbox):
    (booking,) = staff_books(place, clock).bookings
    cancel(db.session, actor=place.member, booking_id=booking.id, now=clock())
    run_tick(clock)
    assert rows("mail.booking_to_pay") and sent(inbox, "mail.booking_to_pay") == []


def test_a_free_booking_by_staff_is_simply_confirmed(place, clock, inbox):
    staff_books(place, clock, end=at(TUE, 11))  # the included studio hour
    assert rows("mail.booking_to_pay") == []
    assert len(rows("mail.booking_confirmed")) == 1


@pytest.mark.parametrize("app_config", [{"STAFF_EMAIL": f"Studio-Team <{STAFF_ADDRESS}>"}],
                         ids=["staff-address"])
def test_staff_are_told_when_a_booking_waits_for_approval(fake, place, clock, inbox):  # noqa: F811
    booking_id, payment_id = authorised(fake, place, clock)
    [queued] = rows("mail.approval_needed")
    assert queued.payload == {"booking_ids": [booking_id]} and queued.user_id is None
    # the gateway telling again queues nothing more
    event(fake, clock, fresh_checkout(payment_id))
    assert len(rows("mail.approval_needed")) == 1
    run_tick(clock)
    [message] = sent(inbox, "mail.approval_needed")
    assert message["To"].addresses[0].addr_spec == STAFF_ADDRESS
    assert message["Subject"] == f"Freigabe nötig: {place.studio.name}"
    text, html = body(message), body(message, "html")
    for words in ("/staff/approvals", place.member.name, place.member.email):
        assert words in text and words in html, words
    # the member gets no copy of it
    assert all(m["To"].addresses[0].addr_spec != place.member.email
               for m in sent(inbox, "mail.approval_needed"))


def test_without_a_staff_address_nothing_is_sent(fake, place, clock, inbox):  # noqa: F811
    authorised(fake, place, clock)
    assert len(rows("mail.approval_needed")) == 1
    run_tick(clock)
    assert sent(inbox, "mail.approval_needed") == []


def fresh_checkout(payment_id: int) -> str:
    from schiller40.payments.models import Payment

    payment = fresh(Payment, payment_id)
    assert payment.checkout_id is not None
    return payment.checkout_id
