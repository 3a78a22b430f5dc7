"""The payment use cases against an in-memory gateway (both databases).

The fake gateway (``fake_gateway.py``) plays the remote side: the member pays, a debit fails,
the gateway is down or refuses. Each test checks what was sent to it and what our rows say.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from schiller40.booking.cancel import cancel
from schiller40.booking.errors import BookingError
from schiller40.booking.models import Booking, BookingStatus
from schiller40.booking.settings import DEFAULT_SETTINGS
from schiller40.core.audit import AuditEntry
from schiller40.errors import NotFound
from schiller40.extensions import db
from schiller40.payments.approval import approve, reject
from schiller40.payments.cancellation import refund_by_hand
from schiller40.payments.checkout import ReturnUrls, start_checkout
from schiller40.payments.errors import PaymentError
from schiller40.payments.gateway import IntentStatus
from schiller40.payments.models import (
    CaptureMethod,
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    WebhookEvent,
)
from schiller40.payments.pull import handle_event, refresh
from schiller40.payments.push import push
from schiller40.payments.reconcile import reconcile
from schiller40.payments.setup import KEY
from tests.helpers import FRI, TUE, book_hours, fresh

from .fake_gateway import FakeGateway

SETTINGS = replace(DEFAULT_SETTINGS, payment_provider="fake")
book = functools.partial(book_hours, settings=SETTINGS)  # with the fake gateway
URLS = ReturnUrls("https://app.example/back?session_id={CHECKOUT_SESSION_ID}",
                  "https://app.example/back?cancelled=1")


@pytest.fixture
def fake(app) -> FakeGateway:
    gateway = FakeGateway()
    app.extensions[KEY] = gateway
    return gateway


def open_checkout(fake, clock, payment_id: int, **kw) -> Payment:
    return start_checkout(
        db.session, fake, payment_id=payment_id, now=clock(), urls=URLS, settings=SETTINGS, **kw
    )


def held(fake, place, clock, day: date = TUE, start: int = 10, end: int = 11,
         user=None, resource=None) -> tuple[int, int, str]:
    """A held room booking with its checkout open: (booking id, payment id, checkout id)."""
    (booking,) = book(user or place.member, resource or place.room, clock, day=day,
                      start=start, end=end)
    payment = open_checkout(fake, clock, booking.payment_id)
    assert payment.checkout_id is not None
    return booking.id, payment.id, payment.checkout_id


def event(fake, clock, object_id: str, kind: str = "checkout.session.completed",
          event_id: str | None = None) -> str:
    return handle_event(
        db.session, fake, event_id=event_id or f"evt_{uuid.uuid4().hex}", event_type=kind,
        object_id=object_id, now=clock(), settings=SETTINGS,
    )


def audit_count(action: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
    )


# --- opening the checkout ----------------------------------------------------------------------


def test_the_checkout_is_opened_with_what_the_booking_costs(fake, place, clock):
    booking_id, payment_id, checkout_id = held(fake, place, clock)
    (request,) = fake.requests
    booking, payment = fresh(Booking, booking_id), fresh(Payment, payment_id)

    assert request.payment_id == payment_id
    assert request.reference == str(booking_id)  # Stripe's client_reference_id
    assert request.booking_ids == (booking_id,)
    assert request.customer_email == "mia@example.org"
    assert request.currency == "EUR" and request.manual_capture is False
    assert request.idempotency_key == payment.idempotency_key
    assert (request.success_url, request.cancel_url) == (URLS.success, URLS.cancel)
    assert request.locale == "de"
    # The checkout lives exactly as long as the hold.
    assert request.expires_at == booking.hold_expires_at == clock() + timedelta(minutes=30)
    (item,) = request.items
    assert item.amount_cents == 1200 == payment.amount_cents
    assert place.room.name in item.name and "24.11.2026 10:00–11:00" in item.name
    assert str(booking_id) in item.description
    assert "19 %" in item.description and "1,92\xa0€" in item.description  # the VAT in it

    assert payment.checkout_id == checkout_id == fake.only().id
    assert payment.checkout_url == f"https://pay.example/{checkout_id}"
    assert payment.checkout_expires_at == booking.hold_expires_at
    assert payment.status is PaymentStatus.PENDING and booking.status is BookingStatus.HELD
    assert fake.snapshot(fake.only()).metadata == {"payment_id": str(payment_id),
                                                   "booking_ids": str(booking_id)}
    assert audit_count("payment.checkout_opened") == 1


def test_a_series_is_paid_at_one_checkout_in_the_members_language(fake, place, clock):
    bookings = book(place.member, place.room, clock, start=10, end=12, repeat_freq="daily",
                    repeat_count=3)
    assert len({b.payment_id for b in bookings}) == 1
    open_checkout(fake, clock, bookings[0].payment_id, locale="en")
    (request,) = fake.requests
    assert request.reference == str(bookings[0].id)
    assert request.booking_ids == tuple(b.id for b in bookings)
    assert [i.amount_cents for i in request.items] == [2400, 2400, 2400]
    assert fake.only().amount == 7200
    assert request.locale == "en"
    assert all("€3.83" in i.description for i in request.items)
    # A language the gateway does not know lets it choose.
    (other,) = book(place.member, place.room, clock, start=14, end=15)
    open_checkout(fake, clock, other.payment_id, locale="fr")
    assert fake.requests[-1].locale == "auto"


def test_opening_again_or_retrying_after_a_crash_never_opens_a_second_checkout(
    fake, place, clock
):
    booking_id, payment_id, checkout_id = held(fake, place, clock)
    again = open_checkout(fake, clock, payment_id)
    assert again.checkout_id == checkout_id
    assert len(fake.requests) == 1  # already open: nothing sent

    # We crashed after the gateway opened the checkout and before we wrote its id: the retry
    # sends the same idempotency key, so the gateway answers with the same checkout.
    payment = fresh(Payment, payment_id)
    payment.checkout_id = payment.checkout_url = None
    db.session.commit()
    again = open_checkout(fake, clock, payment_id)
    assert again.checkout_id == checkout_id
    first, second = fake.requests
    assert first.idempotency_key == second.idempotency_key == again.idempotency_key
    assert len(fake.remotes) == 1

    # The same crash, and the member pays before any retry: the webhook finds the payment
    # by the checkout's metadata.
    payment = fresh(Payment, payment_id)
    payment.checkout_id = payment.checkout_url = None
    db.session.commit()
    fake.pay(checkout_id)
    assert event(fake, clock, checkout_id) == "handled"
    payment = fresh(Payment, payment_id)
    assert payment.checkout_id == checkout_id and payment.status is PaymentStatus.PAID
    assert fresh(Booking, booking_id).status is BookingStatus.CONFIRMED


def test_a_retry_against_a_minimum_lifetime_sends_the_same_parameters(fake, place, clock):
    fake.min_checkout_lifetime = timedelta(minutes=31)  # as Stripe's
    booking_id, payment_id, checkout_id = held(fake, place, clock)
    payment = fresh(Payment, payment_id)
    payment.checkout_id = payment.checkout_url = None  # the crash (or the second click)
    db.session.commit()
    clock.advance(timedelta(seconds=2))
    again = open_checkout(fake, clock, payment_id)
    assert again.checkout_id == checkout_id
    assert fresh(Booking, booking_id).status is BookingStatus.HELD


def test_a_gateway_failure_at_checkout_releases_the_hold(fake, place, clock, other_member):
    for failure, hour in (("down", 10), ("refusing", 14)):
        getattr(fake, failure).add("create_checkout")
        (booking,) = book(place.member, place.room, clock, start=hour, end=hour + 1)
        booking_id, payment_id = booking.id, booking.payment_id
        with pytest.raises(PaymentError) as exc_info:
            open_checkout(fake, clock, payment_id)
        error = exc_info.value
        assert (error.code, error.status) == ("payment_unavailable", 503), failure
        assert error.headers == {"Retry-After": "60"}

        payment, booking = fresh(Payment, payment_id), fresh(Booking, booking_id)
        assert payment.status is PaymentStatus.FAILED
        assert payment.failure_reason == "gateway_unavailable"
        assert payment.checkout_id is None
        assert booking.status is BookingStatus.EXPIRED
        # The slot is free for someone else at once.
        (other,) = book(other_member, place.room, clock, start=hour, end=hour + 1)
        assert other.status is BookingStatus.HELD
        # And the failed payment cannot be paid any more.
        fake.down.clear()
        fake.refusing.clear()
        with pytest.raises(PaymentError) as again:
            open_checkout(fake, clock, payment_id)
        assert again.value.code == "not_payable"
    assert audit_count("booking.hold_released") == 2


# --- events --------------------------------------------------------------------------------------

PAID_EVENTS = ("checkout.session.completed", "payment_intent.succeeded", "charge.succeeded")


def object_of(kind: str, checkout_id: str) -> str:
    suffix = checkout_id.removeprefix("cs_")
    return {"checkout": checkout_id, "payment_intent": f"pi_{suffix}",
            "charge": f"ch_{suffix}"}[kind.split(".")[0]]


def test_paid_events_in_every_order_end_paid_and_confirmed(fake, place, clock):
    orders = list(itertools.permutations(PAID_EVENTS))
    for hour, order in zip(range(8, 20), orders, strict=False):
        booking_id, payment_id, checkout_id = held(fake, place, clock, start=hour, end=hour + 1)
        fake.pay(checkout_id)
        results = [event(fake, clock, object_of(kind, checkout_id), kind) for kind in order]
        assert "handled" in results, order
        payment, booking = fresh(Payment, payment_id), fresh(Booking, booking_id)
        assert payment.status is PaymentStatus.PAID, order
        assert payment.received_cents == 1200 and payment.refunds == []
        assert payment.payment_intent_id == object_of("payment_intent", checkout_id)
        assert booking.status is BookingStatus.CONFIRMED and booking.sequence == 1, order
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 3 * len(orders)
    assert audit_count("booking.confirmed") == len(orders)


@pytest.mark.parametrize(
    ("path", "final", "booking_status"),
    [
        (("open", IntentStatus.PROCESSING, IntentStatus.SUCCEEDED), PaymentStatus.PAID,
         BookingStatus.CONFIRMED),
        (("open", IntentStatus.PROCESSING, IntentStatus.REQUIRES_PAYMENT_METHOD),
         PaymentStatus.FAILED, BookingStatus.EXPIRED),
    ],
    ids=["debit-settles", "debit-fails"],
)
def test_stale_pictures_in_every_order_end_in_the_same_state(
    fake, place, clock, path, final, booking_status
):
    """Each event makes us fetch the checkout; the gateway may answer with an older picture
    (a replica lagging). Whatever order the pictures come in, the outcome is the same."""
    orders = list(itertools.permutations(path))
    for hour, order in zip(range(8, 20), orders, strict=False):
        booking_id, payment_id, checkout_id = held(fake, place, clock, start=hour, end=hour + 1)
        remote = fake.start_debit(checkout_id)
        for picture in order:
            if picture == "open":
                fake.stale.append(fake.snapshot(remote, status="open", intent=None))
            else:
                money = 1200 if picture is IntentStatus.SUCCEEDED else 0
                fake.stale.append(fake.snapshot(remote, intent=picture, received=money))
            event(fake, clock, checkout_id, "checkout.session.async_payment_succeeded")
        assert fake.stale == []
        payment, booking = fresh(Payment, payment_id), fresh(Booking, booking_id)
        assert payment.status is final, order
        assert booking.status is booking_status, order
        assert payment.refunds == [], order


def test_duplicate_and_foreign_events_change_nothing(fake, place, clock):
    booking_id, _, checkout_id = held(fake, place, clock)
    fake.pay(checkout_id)
    assert event(fake, clock, checkout_id, event_id="evt_1") == "handled"
    assert event(fake, clock, checkout_id, event_id="evt_1") == "duplicate"
    assert audit_count("payment.paid") == 1 and audit_count("booking.confirmed") == 1
    assert fresh(Booking, booking_id).sequence == 1
    # Not ours (another integration on the account) or not a type we use: recorded, so a
    # replay is answered without asking the gateway.
    assert event(fake, clock, "ch_unknown", "charge.succeeded", event_id="evt_x") == "ignored"
    assert event(fake, clock, "ch_unknown", "charge.succeeded", event_id="evt_x") == "duplicate"
    assert event(fake, clock, "cus_1", "customer.created", event_id="evt_y") == "ignored"
    ids = db.session.scalars(select(WebhookEvent.id).order_by(WebhookEvent.id)).all()
    assert ids == ["evt_1", "evt_x", "evt_y"]


def test_money_after_the_hold_time_confirms_unless_the_slot_was_released(
    fake, place, clock, other_member
):
    released_id, released_payment, released_checkout = held(fake, place, clock)
    kept_id, kept_payment, kept_checkout = held(fake, place, clock, start=14, end=15)
    clock.advance(timedelta(minutes=31))
    # Paid after its time, but nobody took the slot meanwhile: the slot is the member's.
    fake.pay(kept_checkout)
    event(fake, clock, kept_checkout)
    assert fresh(Booking, kept_id).status is BookingStatus.CONFIRMED
    assert fresh(Payment, kept_payment).refunds == []

    # Someone else books the other slot: that hold is released first.
    (other,) = book(other_member, place.room, clock, start=10, end=11)
    other_id = other.id
    assert fresh(Booking, released_id).status is BookingStatus.EXPIRED
    # Nobody may pay for the released hold: its checkout is expired at the gateway.
    push(db.session, fake, payment_id=released_payment, now=clock(),
         settings=SETTINGS)
    assert fake.made("expire") == [("expire", released_checkout)]
    assert fresh(Payment, released_payment).status is PaymentStatus.EXPIRED
    # The gateway raced the expiry: the member's money arrives anyway, and goes back.
    fake.pay(released_checkout)
    assert event(fake, clock, released_checkout) == "handled"

    payment = fresh(Payment, released_payment)
    assert payment.status is PaymentStatus.PAID and payment.received_cents == 1200
    assert fresh(Booking, released_id).status is BookingStatus.EXPIRED
    (refund,) = payment.refunds
    assert (refund.reason, refund.amount_cents, refund.status) == (
        RefundReason.LATE_PAYMENT, 1200, RefundStatus.SUCCEEDED)
    assert refund.booking_id == released_id
    assert payment.refunded_cents == 1200 and payment.refundable_cents == 0
    assert [c[2] for c in fake.made("refund")] == [1200]
    assert fresh(Booking, other_id).status is BookingStatus.HELD  # untouched


def test_a_hold_paid_after_its_time_counts_the_lapse_calendars_saw(fake, place, clock):
    """Issue 17: from its expiry on a hold shows as cancelled, SEQUENCE 1, before anything
    is written. Money arriving later (confirmed) or a debit starting later (held again)
    is a second change, SEQUENCE 2: never a different event under the same SEQUENCE."""
    paid_id, _, paid_checkout = held(fake, place, clock)
    debit_id, _, debit_checkout = held(fake, place, clock, start=14, end=15)
    expiry = fresh(Booking, paid_id).hold_expires_at
    clock.set(expiry + timedelta(minutes=1))
    for booking_id in (paid_id, debit_id):
        shown = fresh(Booking, booking_id).shown_version(clock())
        assert (shown.status, shown.sequence, shown.changed_at) == (
            BookingStatus.EXPIRED, 1, expiry)

    fake.pay(paid_checkout)
    event(fake, clock, paid_checkout)
    paid = fresh(Booking, paid_id)
    assert (paid.status, paid.sequence, paid.updated_at) == (
        BookingStatus.CONFIRMED, 2, clock())

    fake.start_debit(debit_checkout)
    event(fake, clock, debit_checkout)
    debit = fresh(Booking, debit_id)
    shown = debit.shown_version(clock())
    assert (shown.status, shown.sequence, shown.changed_at) == (
        BookingStatus.HELD, 2, clock())


def test_a_debit_keeps_its_slot_until_the_money_arrives_or_the_debit_fails(
    fake, place, clock, other_member
):
    failing_id, failing_payment, failing_checkout = held(fake, place, clock)
    settling_id, settling_payment, settling_checkout = held(fake, place, clock, start=14,
                                                            end=15)
    for checkout_id in (failing_checkout, settling_checkout):
        fake.start_debit(checkout_id)
        assert event(fake, clock, checkout_id) == "handled"
    assert fresh(Payment, failing_payment).status is PaymentStatus.PROCESSING
    clock.advance(timedelta(hours=2))
    # "Your reservation stays held": the slots must not go to someone else meanwhile.
    for hour in (10, 14):
        with pytest.raises(BookingError) as taken:
            book(other_member, place.room, clock, start=hour, end=hour + 1)
        assert taken.value.code == "conflict"
    assert fresh(Booking, failing_id).status is BookingStatus.HELD

    fake.fail_debit(failing_checkout)
    assert event(fake, clock, failing_checkout,
                 "checkout.session.async_payment_failed") == "handled"
    payment = fresh(Payment, failing_payment)
    assert payment.status is PaymentStatus.FAILED and payment.refunds == []
    assert fresh(Booking, failing_id).status is BookingStatus.EXPIRED
    (other,) = book(other_member, place.room, clock, start=10, end=11)
    assert other.status is BookingStatus.HELD

    fake.settle_debit(settling_checkout)
    event(fake, clock, settling_checkout, "checkout.session.async_payment_succeeded")
    assert fresh(Booking, settling_id).status is BookingStatus.CONFIRMED
    assert fresh(Payment, settling_payment).refunds == []


# --- approval: authorise now, capture when staff approve ---------------------------------------


def authorised_series(fake, place, clock) -> tuple[list[int], int, str]:
    bookings = book(place.member, place.studio, clock, start=14, end=16, repeat_freq="daily",
                    repeat_count=2)
    ids = [b.id for b in bookings]
    payment = open_checkout(fake, clock, bookings[0].payment_id)
    assert payment.capture_method is CaptureMethod.MANUAL
    assert fake.requests[-1].manual_capture is True
    fake.pay(payment.checkout_id)
    event(fake, clock, payment.checkout_id)
    payment = fresh(Payment, payment.id)
    assert payment.status is PaymentStatus.AUTHORIZED and payment.received_cents == 0
    return ids, payment.id, payment.checkout_id


def test_approving_captures_only_the_bookings_still_active(fake, approval_studio, clock):
    ids, payment_id, _checkout_id = authorised_series(fake, approval_studio, clock)
    first, second = (fresh(Booking, i) for i in ids)
    keep_price = second.price_gross_cents
    assert first.price_gross_cents > 0 and keep_price > 0
    cancel(db.session, actor=approval_studio.member, booking_id=ids[0],
           now=clock(), settings=SETTINGS)
    assert fresh(Payment, payment_id).refunds == []  # nothing was charged for it

    approve(db.session, fake, actor=approval_studio.staff, booking_id=ids[1],
            now=clock(), settings=SETTINGS)
    payment = fresh(Payment, payment_id)
    # The amount is part of the key: a retry for another amount is another capture request.
    assert fake.made("capture") == [
        ("capture", payment.payment_intent_id, keep_price,
         f"{payment.idempotency_key}-{keep_price}")]
    assert payment.status is PaymentStatus.PAID and payment.received_cents == keep_price
    assert payment.approved_at == clock()
    assert payment.refunds == []
    assert fresh(Booking, ids[0]).status is BookingStatus.CANCELLED
    assert fresh(Booking, ids[1]).status is BookingStatus.CONFIRMED
    assert audit_count("booking.approved") == 1


def test_an_approval_whose_capture_failed_is_captured_by_reconcile(
    fake, approval_studio, clock
):
    ids, payment_id, _ = authorised_series(fake, approval_studio, clock)
    fake.down.add("capture")
    approve(db.session, fake, actor=approval_studio.staff, booking_id=ids[0],
            now=clock(), settings=SETTINGS)
    payment = fresh(Payment, payment_id)
    assert payment.status is PaymentStatus.AUTHORIZED and payment.approved_at is not None
    fake.down.clear()
    report = reconcile(db.session, fake, now=clock(), settings=SETTINGS)
    assert (report.checked, report.changed, report.failed) == (1, 1, [])
    assert fresh(Payment, payment_id).status is PaymentStatus.PAID
    assert {fresh(Booking, i).status for i in ids} == {BookingStatus.CONFIRMED}
    assert len(fake.made("capture")) == 2
    assert len({c[3] for c in fake.made("capture")}) == 1  # one idempotency key


def test_only_staff_decide_and_rejecting_gives_the_authorisation_back(
    fake, approval_studio, clock
):
    ids, payment_id, _ = authorised_series(fake, approval_studio, clock)
    # Members do not decide (someone else's booking or not: "not found").
    for decide in (approve, reject):
        kw = {"reason": None} if decide is reject else {}
        with pytest.raises(NotFound):
            decide(db.session, fake, actor=approval_studio.member, booking_id=ids[0],
                   now=clock(), settings=SETTINGS, **kw)
    assert fresh(Payment, payment_id).approved_at is None
    assert fake.made("capture") == fake.made("cancel") == []
    # Staff decide only on authorised bookings.
    pending_id, _, _ = held(fake, approval_studio, clock, day=FRI)  # a room: paid at once
    with pytest.raises(PaymentError) as exc_info:
        approve(db.session, fake, actor=approval_studio.staff, booking_id=pending_id,
                now=clock(), settings=SETTINGS)
    assert (exc_info.value.code, exc_info.value.status) == ("not_awaiting_approval", 409)

    reject(db.session, fake, actor=approval_studio.staff, booking_id=ids[0],
           now=clock(), reason="Studio closed for filming", settings=SETTINGS)
    booking = fresh(Booking, ids[0])
    assert booking.status is BookingStatus.CANCELLED
    assert booking.cancel_reason == "Studio closed for filming"
    # The other booking of the series still waits for a decision.
    assert fresh(Booking, ids[1]).status is BookingStatus.HELD
    assert fake.made("cancel") == [] and fresh(Payment, payment_id).status is (
        PaymentStatus.AUTHORIZED)

    reject(db.session, fake, actor=approval_studio.staff, booking_id=ids[1],
           now=clock(), reason=None, settings=SETTINGS)
    payment = fresh(Payment, payment_id)
    assert len(fake.made("cancel")) == 1 and fake.made("capture") == []
    assert payment.status is PaymentStatus.CANCELLED and payment.received_cents == 0
    assert fresh(Booking, ids[1]).status is BookingStatus.CANCELLED
    assert audit_count("booking.rejected") == 2


def test_an_authorisation_nobody_decided_on_is_given_back(fake, approval_studio, clock):
    ids, payment_id, _ = authorised_series(fake, approval_studio, clock)
    first, second = (fresh(Booking, i) for i in ids)
    assert first.status is second.status is BookingStatus.HELD
    # Staff must decide before the first booking starts (or within six days).
    assert first.hold_expires_at == second.hold_expires_at == first.starts_at
    report = reconcile(db.session, fake, now=clock(), settings=SETTINGS)
    assert (report.checked, report.changed) == (1, 0)  # waiting is fine until then

    clock.advance(timedelta(days=1, hours=6))  # past the first start: the deadline
    report = reconcile(db.session, fake, now=clock(), settings=SETTINGS)
    assert (report.checked, report.changed) == (1, 1)
    assert len(fake.made("cancel")) == 1 and fake.made("capture") == []
    assert fresh(Payment, payment_id).status is PaymentStatus.CANCELLED
    assert {fresh(Booking, i).status for i in ids} == {BookingStatus.EXPIRED}


# --- refunds: recorded first, sent after the commit, retried ---------------------------------


def paid(fake, place, clock, start: int = 10) -> tuple[int, int]:
    """A paid room booking on Friday, three days ahead."""
    booking_id, payment_id, checkout_id = held(fake, place, clock, day=FRI, start=start,
                                               end=start + 1)
    fake.pay(checkout_id)
    event(fake, clock, checkout_id)
    assert fresh(Payment, payment_id).status is PaymentStatus.PAID
    return booking_id, payment_id


def cancelled_while_refunds_fail(fake, place, clock, failure: str, start: int) -> int:
    """A paid booking three days ahead (100 % back) cancelled while the gateway's refunds
    are ``down`` or ``refusing``; the refund is pushed once. Returns the payment id."""
    booking_id, payment_id = paid(fake, place, clock, start=start)
    getattr(fake, failure).add("refund")
    cancel(db.session, actor=place.member, booking_id=booking_id, now=clock(),
           settings=SETTINGS)
    push(db.session, fake, payment_id=payment_id, now=clock(), settings=SETTINGS)
    return payment_id


def test_refunds_are_retried_while_the_gateway_is_down_and_failed_when_it_refuses(
    fake, place, clock
):
    retried = cancelled_while_refunds_fail(fake, place, clock, "down", start=10)
    (refund,) = fresh(Payment, retried).refunds
    assert (refund.status, refund.amount_cents, refund.reason) == (
        RefundStatus.PENDING, 1200, RefundReason.CANCELLATION)  # 100 %: three days ahead
    fake.down.clear()
    push(db.session, fake, payment_id=retried, now=clock(), settings=SETTINGS)
    payment = fresh(Payment, retried)
    (refund,) = payment.refunds
    assert refund.status is RefundStatus.SUCCEEDED and refund.provider_refund_id
    assert payment.refunded_cents == 1200
    first, second = fake.made("refund")
    assert first[3] == second[3] == refund.idempotency_key  # the same refund, never two
    assert len(fake.remotes[payment.checkout_id].refunds) == 1

    refused = cancelled_while_refunds_fail(fake, place, clock, "refusing", start=14)
    payment = fresh(Payment, refused)
    (refund,) = payment.refunds
    assert refund.status is RefundStatus.FAILED
    assert refund.failure_message == "refund: refused"
    assert payment.refunded_cents == 0
    assert audit_count("refund.failed") == 1
    # Not sent again: staff must look at it.
    push(db.session, fake, payment_id=refused, now=clock(), settings=SETTINGS)
    assert len(fake.made("refund")) == 3


def test_a_refund_by_hand_is_sent_and_limited_to_what_is_left(fake, place, clock):
    booking_id, payment_id = paid(fake, place, clock)
    made = refund_by_hand(
        db.session, fake, actor=place.staff, booking_id=booking_id, amount_cents=450,
        note="  projector broken  ", now=clock(), settings=SETTINGS,
    )
    assert (made.status, made.amount_cents, made.reason, made.note) == (
        RefundStatus.SUCCEEDED, 450, RefundReason.STAFF, "projector broken")
    assert made.created_by_id == place.staff.id
    for amount in (751, 0, -5):
        with pytest.raises(PaymentError) as too_much:
            refund_by_hand(
                db.session, fake, actor=place.staff, booking_id=booking_id,
                amount_cents=amount, note="", now=clock(), settings=SETTINGS,
            )
        assert (too_much.value.code, too_much.value.status) == ("invalid", 422)
    refund_by_hand(db.session, fake, actor=place.staff, booking_id=booking_id,
                   amount_cents=750, note="", now=clock(), settings=SETTINGS)
    with pytest.raises(PaymentError) as nothing_left:
        refund_by_hand(db.session, fake, actor=place.staff, booking_id=booking_id,
                       amount_cents=1, note="", now=clock(), settings=SETTINGS)
    assert (nothing_left.value.code, nothing_left.value.status) == ("not_refundable", 409)
    assert fresh(Payment, payment_id).refunded_cents == 1200
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 2


# --- reconciliation ----------------------------------------------------------------------------


def test_reconcile_repairs_what_lost_webhooks_left_and_reports(fake, place, clock):
    _, waiting, _ = held(fake, place, clock, start=9, end=10)
    lost_id, lost, lost_checkout = held(fake, place, clock, start=11, end=12)
    _, unreachable, unreachable_checkout = held(fake, place, clock, start=13, end=14)
    other_provider = FakeGateway(name="elsewhere")
    fake.pay(lost_checkout)  # paid, but the webhook never came
    fake.broken.add(unreachable_checkout)

    report = reconcile(db.session, fake, now=clock(), settings=SETTINGS)
    assert (report.checked, report.changed, report.failed) == (3, 1, [unreachable])
    assert fresh(Payment, lost).status is PaymentStatus.PAID
    assert fresh(Booking, lost_id).status is BookingStatus.CONFIRMED
    assert fresh(Payment, waiting).status is PaymentStatus.PENDING
    assert fresh(Payment, unreachable).status is PaymentStatus.PENDING
    # Again: nothing left to change. Payments of another gateway are not its business.
    fake.broken.clear()
    again = reconcile(db.session, fake, now=clock(), settings=SETTINGS)
    assert (again.checked, again.changed, again.failed) == (3, 0, [])
    assert reconcile(db.session, other_provider, now=clock(),
                     settings=SETTINGS).checked == 0


def test_reconcile_ends_a_payment_whose_checkout_was_never_opened(fake, place, clock):
    # The process died between the booking's commit and the gateway call.
    (booking,) = book(place.member, place.room, clock)
    booking_id, payment_id = booking.id, booking.payment_id
    reconcile(db.session, fake, now=clock(), settings=SETTINGS)
    assert fresh(Payment, payment_id).status is PaymentStatus.PENDING  # its hold still runs
    assert fresh(Booking, booking_id).status is BookingStatus.HELD
    clock.advance(timedelta(minutes=30))
    report = reconcile(db.session, fake, now=clock(), settings=SETTINGS)
    assert report.changed == 1
    assert fake.requests == [] and fake.calls == []  # nothing to ask the gateway
    payment = fresh(Payment, payment_id)
    assert (payment.status, payment.failure_reason) == (
        PaymentStatus.EXPIRED, "checkout_never_opened")
    assert fresh(Booking, booking_id).status is BookingStatus.EXPIRED


def test_a_slow_debit_settling_after_the_booking_ended_is_refunded(fake, place, clock):
    booking_id, payment_id, checkout_id = held(fake, place, clock)
    fake.start_debit(checkout_id)
    assert event(fake, clock, checkout_id) == "handled"
    booking = fresh(Booking, booking_id)
    clock.advance(booking.ends_at - clock() + timedelta(days=2))
    fake.settle_debit(checkout_id)
    assert event(fake, clock, checkout_id, "checkout.session.async_payment_succeeded") == \
        "handled"
    assert fresh(Booking, booking_id).status is BookingStatus.EXPIRED
    (refund,) = fresh(Payment, payment_id).refunds
    assert (refund.reason, refund.amount_cents) == (RefundReason.LATE_PAYMENT, 1200)


def test_a_cancellation_never_refunds_more_than_the_booking_cost(fake, place, clock):
    # Two dates on one payment; staff already gave the first one's price back by hand.
    (first, second) = book(place.member, place.room, clock, day=FRI, start=10, end=11,
                           repeat_freq="weekly", repeat_count=2)
    ids, payment_id = (first.id, second.id), first.payment_id
    payment = open_checkout(fake, clock, payment_id)
    fake.pay(payment.checkout_id)
    event(fake, clock, payment.checkout_id)
    refund_by_hand(db.session, fake, actor=place.staff, booking_id=ids[0],
                   amount_cents=1200, note="Beamer defekt", now=clock(),
                   settings=SETTINGS)
    cancel(db.session, actor=place.member, booking_id=ids[0], now=clock(),
           settings=SETTINGS)
    refunds = fresh(Payment, payment_id).refunds
    assert [(r.reason, r.amount_cents) for r in refunds] == [(RefundReason.STAFF, 1200)]


def test_a_refund_that_fails_after_succeeding_is_shown_as_failed(fake, place, clock):
    booking_id, payment_id, checkout_id = held(fake, place, clock, day=FRI)
    fake.pay(checkout_id)
    event(fake, clock, checkout_id)
    cancel(db.session, actor=place.member, booking_id=booking_id, now=clock(),
           settings=SETTINGS)
    push(db.session, fake, payment_id=payment_id, now=clock(), settings=SETTINGS)
    (refund,) = fresh(Payment, payment_id).refunds
    assert refund.status is RefundStatus.SUCCEEDED
    assert fresh(Payment, payment_id).refunded_cents == 1200
    fake.remotes[checkout_id].refunds[0] = replace(fake.remotes[checkout_id].refunds[0],
                                                   status="failed")
    refresh(db.session, fake, payment_id=payment_id, now=clock(), settings=SETTINGS)
    (refund,) = fresh(Payment, payment_id).refunds
    assert refund.status is RefundStatus.FAILED
    assert fresh(Payment, payment_id).refunded_cents == 0
