"""mail.no_show: the member is told their desk was released, in their language, with the
calendar cancellation, once however many workers saw it due."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schiller40.core import outbox
from schiller40.extensions import db
from tests.helpers import MON, at

from ..mailbox import body
from .helpers import invitation, run_tick


def no_show(factory, place, clock, **kw):
    booking = factory.booking(resource=place.desks[0], user=place.member,
                              starts_at=at(MON, 9), duration=timedelta(hours=4), **kw)
    clock.advance(timedelta(minutes=90))  # 10:30
    run_tick(clock)  # releases and delivers in one pass
    db.session.expire_all()
    return booking


@pytest.mark.parametrize("locale", ["de", "en"])
def test_the_member_is_told_with_a_calendar_cancellation(place, factory, clock, inbox, locale):
    place.member.locale = locale
    booking = no_show(factory, place, clock, credit_half_days=1)
    message = inbox.only()
    assert message["To"].addresses[0].addr_spec == "mia@example.org"
    text, html = body(message), body(message, "html")
    assert f"/bookings/{booking.id}" in text and f"/bookings/{booking.id}" in html
    if locale == "en":
        assert message["Subject"] == f"Desk released: nobody checked in ({place.desks[0].name})"
        assert "released at 10:30\u202fAM because nobody had checked in by 10:30" in text
        assert "(1 half day) is not returned" in text
        assert "at the latest 90 minutes after the start" in text
        assert "If you cannot come, please cancel before the start" in html
        assert "payment" not in text  # nothing was paid, so nothing to say about it
    else:
        assert message["Subject"] == (
            f"Arbeitsplatz freigegeben: niemand hat eingecheckt ({place.desks[0].name})")
        assert "um 10:30 Uhr freigegeben" in text and "bis 10:30 Uhr" in text
        assert "(1 halber Tag)" in text and "nicht zurückgegeben" in text
        assert "spätestens 90 Minuten nach Beginn" in text
        assert "Sie" in html
    calendar = invitation(message)
    assert calendar.method.value == "CANCEL"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    assert calendar.vevent.status.value == "CANCELLED"
    assert int(calendar.vevent.sequence.value) == booking.sequence == 1


def test_a_paid_desk_says_the_payment_is_not_refunded(place, factory, clock, inbox):
    place.member.locale = "en"
    no_show(factory, place, clock, price_gross_cents=1200, price_net_cents=1008,
            price_tax_cents=192)
    text = body(inbox.only())
    assert "the payment of" in text and "12.00" in text and "is not refunded" in text
    assert "half day" not in text


def test_several_passes_send_one_mail(place, factory, clock, inbox):
    no_show(factory, place, clock)
    for _ in range(2):
        clock.advance(timedelta(minutes=1))
        run_tick(clock)
    assert len(inbox.messages) == 1


def test_nothing_is_sent_for_a_booking_that_was_not_released(place, factory, clock, inbox):
    booking = factory.booking(resource=place.desks[0], user=place.member,
                              starts_at=at(MON, 12))
    outbox.enqueue(db.session, topic="mail.no_show", now=clock(),
                   payload={"booking_id": booking.id})
    report = run_tick(clock)
    assert (report.delivery.skipped, inbox.messages) == (1, [])


def test_a_deactivated_member_gets_no_mail(place, factory, clock, inbox):
    place.member.is_active_account = False
    no_show(factory, place, clock)
    assert inbox.messages == []
