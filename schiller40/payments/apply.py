"""Applying what the gateway says to our records, inside one locked transaction.

``pull`` (a webhook, the return page, reconciliation) and ``push`` (after carrying out what
was due) both end here: the payment moves forward, never back (``Payment.learn``), and what
that means for its bookings follows in the same transaction: confirm them, release them,
or record the refund of money that came too late. Mails are queued in the outbox, keyed so
that each goes out once however often the same news arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..booking.models import Booking, BookingStatus
from ..booking.offers import offer_freed
from ..booking.rules import Interval
from ..booking.settings import BookingSettings
from ..core import audit, outbox
from ..core.locking import write
from . import ledger
from .gateway import Checkout
from .locks import lock_payment
from .models import Payment, PaymentStatus, Refund, RefundReason, RefundStatus, WebhookEvent
from .states import observed_status


class _AlreadyHandled(Exception):
    """The webhook event was recorded by another process meanwhile (its id is the key)."""


def apply_checkout(
    session: Session,
    payment_id: int,
    checkout: Checkout,
    *,
    now: datetime,
    settings: BookingSettings,
    event: WebhookEvent | None = None,
) -> bool:
    """Apply the gateway's view; False if ``event`` was handled by another process.
    Recording the event and applying its effect are one transaction: neither, or both."""
    try:
        with write(session):
            payment = lock_payment(session, payment_id)
            if event is not None:
                _record_event(session, event)
            _apply_locked(session, payment, checkout, now=now, settings=settings)
    except _AlreadyHandled:  # the block has rolled back
        return False
    return True


def _record_event(session: Session, event: WebhookEvent) -> None:
    session.add(event)
    try:
        session.flush()
    except IntegrityError as exc:
        # Only this insert means "handled meanwhile": any other IntegrityError of the
        # transaction still propagates (and the gateway's retry does the work).
        raise _AlreadyHandled() from exc


def _apply_locked(
    session: Session, payment: Payment, checkout: Checkout, *, now: datetime,
    settings: BookingSettings,
) -> None:
    before = payment.status
    payment.adopt_checkout(checkout.id, checkout.url, checkout.expires_at)
    intent = checkout.intent
    if intent is not None:
        payment.record_intent(intent.id, intent.received_cents)
        _sync_refunds(session, payment, intent.refunds, now=now)
    if not payment.learn(observed_status(checkout), now):
        return
    after = payment.status
    audit.record(
        session, action=f"payment.{after.value}", now=now, actor_id=None,
        object_type="payment", object_id=payment.id,
        details={"from": before.value, "checkout": checkout.id,
                 "received_cents": payment.received_cents},
    )
    if after is PaymentStatus.PAID:
        charged = [b for b in payment.bookings if b.status is BookingStatus.HELD]
        confirmed = _confirm(session, payment, now=now)
        _refund_excess(session, payment, now=now)
        _announce_paid(session, payment, confirmed, charged, now=now)
    elif after is PaymentStatus.PROCESSING:
        # A slow method (SEPA) settles days later. The member has paid as far as they can:
        # the slot stays theirs until the money arrives or the debit fails, at most until
        # the booking ends. (The checkout's 30 minutes would give it away.)
        for booking in payment.bookings:
            if booking.status is BookingStatus.HELD:
                booking.keep_hold_until(booking.ends_at, now)
    elif after is PaymentStatus.AUTHORIZED:
        _await_approval(session, payment, now=now)
    elif after in (PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED):
        release(session, payment, now=now, settings=settings, why=after.value)


def _await_approval(session: Session, payment: Payment, *, now: datetime) -> None:
    """Authorised: the holds last until staff must have decided, and staff are told."""
    held = [b for b in payment.bookings if b.status is BookingStatus.HELD]
    deadline = ledger.approval_deadline(held, now)
    for booking in held:
        booking.keep_hold_until(deadline, now)
    if held:
        # Staff must decide before the deadline: tell them now (to the staff address, if one
        # is configured; once per payment, however often the gateway reports the
        # authorisation).
        outbox.enqueue(
            session, topic="mail.approval_needed", now=now,
            payload={"booking_ids": [b.id for b in held]},
            key=f"mail.approval_needed:{payment.id}",
        )


def _sync_refunds(
    session: Session, payment: Payment, remote: Iterable[Any], *, now: datetime
) -> None:
    """Mark our refunds done when the gateway shows them; record ones made elsewhere."""
    by_id = {r.id: r for r in payment.refunds}
    by_provider = {r.provider_refund_id: r for r in payment.refunds if r.provider_refund_id}
    for seen in remote:
        local = by_provider.get(seen.id) or (by_id.get(seen.local_id) if seen.local_id else None)
        if local is not None:
            _sync_refund(session, payment, local, seen, now=now)
        elif seen.status in ("succeeded", "pending"):
            _record_external_refund(session, payment, seen, now=now)
    session.flush()
    payment.recount_refunds()


def _sync_refund(
    session: Session, payment: Payment, local: Refund, seen: Any, *, now: datetime
) -> None:
    """One of our refunds as the gateway shows it now."""
    local.provider_refund_id = seen.id
    if local.is_pending and seen.status == "succeeded":
        local.succeed(now)
        announce_refund(session, payment, local, now=now)
    elif not local.has_failed and seen.status in ("failed", "canceled"):
        local.fail(f"gateway status {seen.status}", now)
        audit.record(
            session, action="refund.failed", now=now, actor_id=None,
            object_type="payment", object_id=payment.id,
            details={"refund_id": local.id, "message": local.failure_message},
        )


def _record_external_refund(
    session: Session, payment: Payment, seen: Any, *, now: datetime
) -> None:
    """Made in the Stripe dashboard: keep the record complete for staff and members."""
    external = Refund(
        payment=payment, amount_cents=seen.amount_cents,
        status=(
            RefundStatus.SUCCEEDED if seen.status == "succeeded" else RefundStatus.PENDING
        ),
        reason=RefundReason.EXTERNAL, provider_refund_id=seen.id,
        note="made outside Schiller40", created_at=now, updated_at=now,
    )
    session.add(external)
    if external.status is RefundStatus.SUCCEEDED:
        session.flush()
        announce_refund(session, payment, external, now=now)
    audit.record(
        session, action="refund.recorded", now=now, actor_id=None,
        object_type="payment", object_id=payment.id,
        details={"amount_cents": seen.amount_cents, "provider_refund_id": seen.id},
    )


def _confirm(session: Session, payment: Payment, *, now: datetime) -> list[Booking]:
    """Paid: held bookings become confirmed. A hold past its time that nobody has released
    yet still holds its slot (the overlap guard saw to that), so it is confirmed too rather
    than refunded: the member paid, the slot is theirs. Not once the booking is over (a slow
    debit that settled too late): that hold is released, and its money refunded.

    Answers the bookings confirmed here: only this transition announces them, so a replayed
    or reordered webhook (the payment is paid already) confirms and announces nothing."""
    confirmed: list[Booking] = []
    for booking in payment.bookings:
        if booking.status is BookingStatus.HELD and booking.ends_at <= now:
            booking.release_hold(now)
            audit.record(
                session, action="booking.hold_released", now=now, actor_id=None,
                object_type="booking", object_id=booking.id,
                details={"reason": "paid_after_the_end"},
            )
        elif booking.status is BookingStatus.HELD:
            booking.confirm(now)
            audit.record(
                session, action="booking.confirmed", now=now, actor_id=None,
                object_type="booking", object_id=booking.id,
                details={"payment_id": payment.id},
            )
            confirmed.append(booking)
    return confirmed


def _announce_paid(
    session: Session, payment: Payment, confirmed: list[Booking], charged: list[Booking],
    *, now: datetime,
) -> None:
    """Queue the mails of a payment that has just become paid (called on that transition
    only, which happens once: the state machine never goes back).

    The bookings it confirmed get "booking confirmed", or "booking approved" when staff
    approved them (a studio booking captured on approval: that mail is the confirmation, with
    the calendar invitation). "Payment received" goes out when money actually arrived.
    """
    user_id = payment.user_id
    if confirmed:
        topic = (
            "mail.booking_approved"
            if payment.captures_on_approval and payment.approved_at is not None
            else "mail.booking_confirmed"
        )
        outbox.enqueue(
            session, topic=topic, now=now, user_id=user_id,
            payload={"booking_ids": [b.id for b in confirmed]},
            key=f"{topic}:payment:{payment.id}",
        )
    if payment.received_cents > 0:
        outbox.enqueue(
            session, topic="mail.payment_received", now=now, user_id=user_id,
            payload={
                "payment_id": payment.id,
                "amount_cents": payment.received_cents,
                # What the money paid for: a captured authorisation, the bookings still held
                # (those cancelled before the approval were not charged); else all of them.
                "booking_ids": [
                    b.id for b in (
                        charged if payment.captures_on_approval else payment.bookings
                    )
                ],
            },
            key=f"mail.payment_received:{payment.id}",
        )


def announce_refund(
    session: Session, payment: Payment, refund: Refund, *, now: datetime
) -> None:
    """Queue "refund issued" for a refund that has just succeeded at the gateway; keyed by
    the refund, so it goes out once however the success was learned (our call's answer, a
    webhook, reconciliation)."""
    outbox.enqueue(
        session, topic="mail.refund_issued", now=now, user_id=payment.user_id,
        payload={"refund_id": refund.id, "amount_cents": refund.amount_cents,
                 "reason": refund.reason.value},
        key=f"mail.refund_issued:{refund.id}",
    )


# Why a payment's holds were released -> the reason the member's mail gives. A checkout that
# could not be opened is not here: the member saw that on the page, at once.
HOLD_MAIL_REASONS = {
    "failed": "payment_failed",
    "expired": "expired",
    "cancelled": "expired",  # an authorisation nobody approved in time was given back
}


def _refund_excess(session: Session, payment: Payment, *, now: datetime) -> Refund | None:
    """Money for bookings that are no longer held (released, cancelled) goes back in full."""
    excess = payment.excess_cents
    if excess <= 0:
        return None
    gone = [b for b in payment.bookings if b.status is not BookingStatus.CONFIRMED]
    refund = Refund(
        payment=payment,
        booking_id=gone[0].id if len(gone) == 1 else None,
        amount_cents=excess,
        reason=RefundReason.LATE_PAYMENT,
        note="paid after the reservation was released",
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    session.flush()
    audit.record(
        session, action="refund.late_payment", now=now, actor_id=None,
        object_type="payment", object_id=payment.id,
        details={"amount_cents": excess, "refund_id": refund.id,
                 "bookings": [b.id for b in gone]},
    )
    return refund


def release(
    session: Session, payment: Payment, *, now: datetime, settings: BookingSettings, why: str
) -> None:
    """The payment will not come: its held bookings are released, the freed slots offered
    to the waiting list, and the member told why (``HOLD_MAIL_REASONS``)."""
    released: list[int] = []
    for booking in payment.bookings:
        if booking.status is not BookingStatus.HELD:
            continue
        booking.release_hold(now)
        released.append(booking.id)
        audit.record(
            session, action="booking.hold_released", now=now, actor_id=None,
            object_type="booking", object_id=booking.id, details={"reason": why},
        )
        session.flush()
        offer_freed(
            session, booking.resource, Interval(booking.starts_at, booking.ends_at), now=now,
            settings=settings,
        )
    reason = HOLD_MAIL_REASONS.get(why)
    if released and reason is not None:
        outbox.enqueue(
            session, topic="mail.hold_expired", now=now, user_id=payment.user_id,
            payload={"booking_ids": released, "reason": reason},
            key=f"mail.hold_expired:payment:{payment.id}",
        )
