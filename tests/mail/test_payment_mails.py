"""Mails about payments, refunds and staff approvals: queued by the payment use cases
(``payments.apply``, ``push``, ``approval``) on the transition that causes them (driven here
through its real webhook and reconcile paths against the in-memory gateway), sent by the
worker to the real SMTP server, in German and English, once however often the gateway
repeats itself."""

from __future__ import annotations

import functools
import uuid
from dataclasses import replace
from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from schiller40.booking.cancel import cancel
from schiller40.booking.models import Booking, BookingStatus
from schiller40.booking.settings import DEFAULT_SETTINGS
from schiller40.core.money import money
from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from schiller40.payments.approval import approve, reject
from schiller40.payments.cancellation import refund_by_hand
from schiller40.payments.checkout import ReturnUrls, start_checkout
from schiller40.payments.errors import PaymentError
from schiller40.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from schiller40.payments.pull import handle_event
from schiller40.payments.push import push
from schiller40.payments.reconcile import reconcile as reconcile_payments
from schiller40.payments.setup import KEY
from tests.helpers import FRI, TUE, book_hours, fresh
from tests.payments.fake_gateway import FakeGateway

from ..mailbox import body
from .helpers import invitation, run_tick

SETTINGS = replace(DEFAULT_SETTINGS, payment_provider="fake")
book = functools.partial(book_hours, settings=SETTINGS)  # with the fake gateway
URLS = ReturnUrls("https://app.example/back", "https://app.example/back?cancelled=1")

LANGUAGES = ["de", "en"]


@pytest.fixture
def fake(app) -> FakeGateway:
    gateway = FakeGateway()
    app.extensions[KEY] = gateway
    return gateway


def speaks(member, locale: str) -> None:
    member.locale = locale
    db.session.commit()


def rows(topic: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)
    ))


def sent(inbox, topic: str) -> list:
    """The messages the SMTP server received for the outbox entries of ``topic``."""
    ids = {str(r.id) for r in rows(topic)}
    return [m for m in inbox.messages if m["X-Schiller40-Outbox-Id"] in ids]


def only_sent(inbox, topic: str):
    found = sent(inbox, topic)
    assert len(found) == 1, [m["Subject"] for m in inbox.messages]
    return found[0]


def addressed_to(message, member) -> None:
    assert message["To"].addresses[0].addr_spec == member.email
    assert message["From"] and message["Auto-Submitted"] == "auto-generated"


def event(fake, clock, object_id: str, kind: str = "checkout.session.completed",
          event_id: str | None = None) -> str:
    return handle_event(
        db.session, fake, event_id=event_id or f"evt_{uuid.uuid4().hex}", event_type=kind,
        object_id=object_id, now=clock(), settings=SETTINGS,
    )


def held(fake, place, clock, *, day: date = TUE, start: int = 10, end: int = 11,
         resource=None) -> tuple[int, int, str]:
    (booking,) = book(place.member, resource or place.room, clock, day=day, start=start,
                      end=end)
    payment = start_checkout(db.session, fake, payment_id=booking.payment_id,
                             now=clock(), urls=URLS, settings=SETTINGS)
    assert payment.checkout_id is not None
    return booking.id, payment.id, payment.checkout_id


def reconcile(fake, clock) -> None:
    report = reconcile_payments(db.session, fake, now=clock(), settings=SETTINGS)
    assert report.failed == []


# --- paid: confirmed and received ----------------------------------------------------------


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_paid_booking_is_confirmed_and_receipted_once_however_often_stripe_tells(
    fake, place, clock, inbox, locale
):
    speaks(place.member, locale)
    booking_id, payment_id, checkout_id = held(fake, place, clock)
    assert rows("mail.booking_confirmed") == rows("mail.payment_received") == []
    fake.pay(checkout_id)
    assert event(fake, clock, checkout_id, event_id="evt_paid") == "handled"
    # Replayed, the other events of the same payment (any order), reconcile twice.
    assert event(fake, clock, checkout_id, event_id="evt_paid") == "duplicate"
    intent = "pi_" + checkout_id.removeprefix("cs_")
    assert event(fake, clock, intent, "payment_intent.succeeded") == "handled"
    reconcile(fake, clock)
    reconcile(fake, clock)

    [confirmed] = rows("mail.booking_confirmed")
    assert confirmed.payload == {"booking_ids": [booking_id]}
    assert confirmed.user_id == place.member.id
    [received] = rows("mail.payment_received")
    assert received.payload == {"payment_id": payment_id, "amount_cents": 1200,
                                "booking_ids": [booking_id]}

    run_tick(clock)
    run_tick(clock)  # the worker's own reconcile pass queues nothing more
    assert len(inbox.messages) == 2
    booking = fresh(Booking, booking_id)

    message = only_sent(inbox, "mail.booking_confirmed")
    addressed_to(message, place.member)
    calendar = invitation(message)
    assert calendar.method.value == "REQUEST"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    assert int(calendar.vevent.sequence.value) == booking.sequence == 1

    receipt = only_sent(inbox, "mail.payment_received")
    addressed_to(receipt, place.member)
    text, html = body(receipt), body(receipt, "html")
    if locale == "de":
        assert receipt["Subject"] == "Zahlung erhalten: 12,00\xa0€"
        assert "wir haben Ihre Zahlung über 12,00\xa0€ erhalten" in text
        expected = ["Quittung für Zahlung Nr.", "Nettobetrag: 10,08\xa0€",
                    "MwSt. (19 %): 1,92\xa0€", "Erhalten insgesamt: 12,00\xa0€", "bestätigt"]
    else:
        assert receipt["Subject"] == "Payment received: €12.00"
        assert "we have received your payment of €12.00" in text
        expected = ["Receipt for payment no.", "Net amount: €10.08", "VAT (19 %): €1.92",
                    "Total received: €12.00", "confirmed"]
    for words in expected:
        assert words in text, words
    assert place.room.name in text and place.room.name in html
    assert f"/bookings/{booking_id}" in html
    assert "<caption>" in html and "<tfoot>" in html
    assert receipt.get_content_type() == "multipart/alternative"  # no attachment


def test_a_failed_debit_and_an_expired_checkout_release_the_hold_and_say_why(
    fake, place, clock, inbox
):
    failing_id, _, failing = held(fake, place, clock)
    expiring_id, _, expiring = held(fake, place, clock, start=14, end=15)
    fake.start_debit(failing)
    event(fake, clock, failing)
    fake.fail_debit(failing)
    event(fake, clock, failing, "checkout.session.async_payment_failed", event_id="evt_f")
    event(fake, clock, failing, "checkout.session.async_payment_failed", event_id="evt_f")
    fake.expire_checkout(expiring, now=clock())
    event(fake, clock, expiring, "checkout.session.expired")
    event(fake, clock, expiring, "checkout.session.expired")
    reconcile(fake, clock)

    assert [r.payload for r in rows("mail.hold_expired")] == [
        {"booking_ids": [failing_id], "reason": "payment_failed"},
        {"booking_ids": [expiring_id], "reason": "expired"},
    ]
    assert {r.user_id for r in rows("mail.hold_expired")} == {place.member.id}
    assert fresh(Booking, failing_id).status is BookingStatus.EXPIRED
    # Nothing was paid: no receipt, no confirmation.
    assert rows("mail.payment_received") == rows("mail.booking_confirmed") == []


def test_no_mail_when_the_checkout_could_not_be_opened(fake, place, clock):
    """The member sees that on the page at once; a mail would only repeat it."""
    (booking,) = book(place.member, place.room, clock)
    fake.down.add("create_checkout")
    with pytest.raises(PaymentError):
        start_checkout(db.session, fake, payment_id=booking.payment_id, now=clock(),
                       urls=URLS, settings=SETTINGS)
    assert fresh(Booking, booking.id).status is BookingStatus.EXPIRED
    assert rows("mail.hold_expired") == []


# --- refunds -------------------------------------------------------------------------------


def paid(fake, place, clock, *, start: int = 10) -> tuple[int, int]:
    booking_id, payment_id, checkout_id = held(fake, place, clock, day=FRI, start=start,
                                               end=start + 1)
    fake.pay(checkout_id)
    event(fake, clock, checkout_id)
    return booking_id, payment_id


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_cancellation_refund_is_announced_once_when_the_gateway_has_made_it(
    fake, place, clock, inbox, locale
):
    speaks(place.member, locale)
    booking_id, payment_id = paid(fake, place, clock)
    fake.down.add("refund")
    cancel(db.session, actor=place.member, booking_id=booking_id, now=clock(),
           settings=SETTINGS)
    push(db.session, fake, payment_id=payment_id, now=clock(), settings=SETTINGS)
    (refund,) = fresh(Payment, payment_id).refunds
    assert refund.status is RefundStatus.PENDING
    assert rows("mail.refund_issued") == []  # recorded, not made: nothing to announce yet

    fake.down.clear()
    push(db.session, fake, payment_id=payment_id, now=clock(), settings=SETTINGS)
    reconcile(fake, clock)
    charge = "ch_" + fresh(Payment, payment_id).checkout_id.removeprefix("cs_")
    assert event(fake, clock, charge, "charge.refunded") == "handled"
    refund = fresh(Refund, refund.id)
    assert refund.status is RefundStatus.SUCCEEDED
    [row] = rows("mail.refund_issued")
    assert row.payload == {"refund_id": refund.id, "amount_cents": 1200,
                           "reason": "cancellation"}
    assert row.user_id == place.member.id

    run_tick(clock)
    message = only_sent(inbox, "mail.refund_issued")
    addressed_to(message, place.member)
    text, html = body(message), body(message, "html")
    if locale == "de":
        assert message["Subject"] == "Erstattung von 12,00\xa0€"
        expected = ["wir haben Ihnen 12,00\xa0€ erstattet.", "Stornobedingungen",
                    "Die Erstattung betrifft diese Buchung:", "5 bis 10 Werktagen"]
    else:
        assert message["Subject"] == "Refund of €12.00"
        expected = ["we have refunded €12.00 to you.", "cancellation terms",
                    "The refund concerns this booking:", "5 to 10 business days"]
    for words in expected:
        assert words in text, words
        assert words in html, words
    assert place.room.name in text and f"/bookings/{booking_id}" in html
    assert not message.is_multipart() or message.get_content_type() == "multipart/alternative"


def test_a_refund_by_hand_and_a_late_payment_refund_are_announced_with_their_reason(
    fake, place, clock, inbox, factory
):
    booking_id, _payment_id = paid(fake, place, clock)
    made = refund_by_hand(db.session, fake, actor=place.staff, booking_id=booking_id,
                          amount_cents=500, note="internal: coffee machine",
                          now=clock(), settings=SETTINGS)
    assert made.status is RefundStatus.SUCCEEDED

    # Paid after the hold was released and the slot given to someone else: all goes back.
    late_id, late_payment, late_checkout = held(fake, place, clock, day=TUE, start=14, end=15)
    clock.advance(timedelta(minutes=31))
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    book(other, place.room, clock, start=14, end=15)
    fake.pay(late_checkout)
    event(fake, clock, late_checkout)
    (late,) = fresh(Payment, late_payment).refunds
    assert late.status is RefundStatus.SUCCEEDED

    assert [(r.payload["reason"], r.payload["amount_cents"]) for r in
            rows("mail.refund_issued")] == [("staff", 500), ("late_payment", 1200)]
    # The money did arrive, so there is a receipt; the booking is not confirmed.
    [receipt] = [r for r in rows("mail.payment_received") if r.payload["payment_id"] ==
                 late_payment]
    assert receipt.payload["booking_ids"] == [late_id]
    assert fresh(Booking, late_id).status is BookingStatus.EXPIRED

    run_tick(clock)
    by_hand, late_mail = sent(inbox, "mail.refund_issued")
    assert by_hand["Subject"] == "Erstattung von 5,00\xa0€"
    assert "Das Schiller40-Team hat Ihnen diesen Betrag erstattet." in body(by_hand)
    assert "coffee machine" not in body(by_hand)  # staff notes are for staff
    assert late_mail["Subject"] == "Erstattung von 12,00\xa0€"
    assert "bereits freigegeben" in body(late_mail)
    late_receipt = next(m for m in sent(inbox, "mail.payment_received")
                    if m["X-Schiller40-Outbox-Id"] == str(receipt.id))
    assert "verfallen (nicht rechtzeitig bezahlt)" in body(late_receipt)


# --- approval ------------------------------------------------------------------------------


def authorised(fake, place, clock) -> tuple[int, int]:
    place.studio.requires_approval = True
    db.session.commit()
    booking_id, payment_id, checkout_id = held(fake, place, clock, start=14, end=16,
                                               resource=place.studio)
    fake.pay(checkout_id)
    event(fake, clock, checkout_id)
    assert fresh(Payment, payment_id).status is PaymentStatus.AUTHORIZED
    return booking_id, payment_id


@pytest.mark.parametrize("locale", LANGUAGES)
def test_an_approved_studio_booking_gets_approved_instead_of_confirmed(
    fake, place, clock, inbox, locale
):
    speaks(place.member, locale)
    booking_id, _payment_id = authorised(fake, place, clock)
    assert rows("mail.payment_received") == []  # authorised is not received
    approve(db.session, fake, actor=place.staff, booking_id=booking_id, now=clock(),
            settings=SETTINGS)
    reconcile(fake, clock)
    booking = fresh(Booking, booking_id)
    assert booking.status is BookingStatus.CONFIRMED
    price = booking.price_gross_cents
    assert rows("mail.booking_confirmed") == []
    [approved] = rows("mail.booking_approved")
    assert approved.payload == {"booking_ids": [booking_id]}
    [received] = rows("mail.payment_received")
    assert received.payload["amount_cents"] == price

    run_tick(clock)
    assert len(inbox.messages) == 2
    message = only_sent(inbox, "mail.booking_approved")
    addressed_to(message, place.member)
    calendar = invitation(message)
    assert calendar.method.value == "REQUEST"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    text, html = body(message), body(message, "html")
    if locale == "de":
        assert message["Subject"] == f"Buchung genehmigt: {place.studio.name}"
        expected = "das Studio-Team hat Ihre Buchung genehmigt"
    else:
        assert message["Subject"] == f"Booking approved: {place.studio.name}"
        expected = "the studio team has approved your booking"
    assert expected in text and expected in html
    with force_locale(locale):
        assert money(price) in text
    assert only_sent(inbox, "mail.payment_received")


@pytest.mark.parametrize(("locale", "reason"), [("de", "Studio closed for filming"),
                                                ("en", None)])
def test_a_rejected_studio_booking_says_why_and_cancels_the_calendar_entry(
    fake, place, clock, inbox, locale, reason
):
    speaks(place.member, locale)
    booking_id, payment_id = authorised(fake, place, clock)
    reject(db.session, fake, actor=place.staff, booking_id=booking_id, now=clock(),
           reason=reason, settings=SETTINGS)
    reconcile(fake, clock)
    assert fresh(Payment, payment_id).status is PaymentStatus.CANCELLED
    [row] = rows("mail.booking_rejected")
    assert row.payload == {"booking_id": booking_id, "reason": reason}
    assert rows("mail.hold_expired") == [] and rows("mail.payment_received") == []
    assert rows("mail.booking_cancelled") == []  # "not approved" is the one message

    run_tick(clock)
    message = only_sent(inbox, "mail.booking_rejected")
    assert len(inbox.messages) == 1, [m["Subject"] for m in inbox.messages]
    addressed_to(message, place.member)
    booking = fresh(Booking, booking_id)
    calendar = invitation(message)
    assert calendar.method.value == "CANCEL"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    assert calendar.vevent.status.value == "CANCELLED"
    text, html = body(message), body(message, "html")
    if locale == "de":
        assert message["Subject"] == f"Buchung nicht genehmigt: {place.studio.name}"
        expected = ["leider konnte das Studio-Team", "Sie zahlen dafür nichts",
                    "Begründung des Teams: Studio closed for filming"]
    else:
        assert message["Subject"] == f"Booking not approved: {place.studio.name}"
        expected = ["unfortunately the studio team", "You will not be charged"]
        # Staff gave no reason: the records' default is not passed off as theirs.
        assert "Reason given" not in text
    for words in expected:
        assert words in text and words in html, words
