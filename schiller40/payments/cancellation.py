"""Giving money back: a cancellation's refund, sent at once, and staff refunds by hand.

The refund is recorded in the deciding transaction; the gateway is asked right after the
commit (``push``), and reconciliation retries it if the gateway is down.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..booking.cancel import cancel
from ..booking.models import Booking
from ..booking.settings import BookingSettings
from ..core import audit
from ..core.locking import write
from ..core.money import money
from .approval import staff_booking
from .errors import PaymentError
from .gateway import PaymentGateway
from .locks import lock_payment
from .models import Payment, Refund, RefundReason
from .push import push


def cancel_booking(
    session: Session,
    gateway: PaymentGateway,
    *,
    actor: User,
    booking_id: int,
    now: datetime,
    reason: str | None,
    refund: str,
    settings: BookingSettings,
    notify: bool = True,
) -> tuple[Booking, Refund | None]:
    """Cancel a booking and send the refund it is owed at once (reconciliation retries it
    if the gateway is down). Answers the booking and that refund, if any."""
    booking = cancel(
        session, actor=actor, booking_id=booking_id, now=now, reason=reason, refund=refund,
        settings=settings, notify=notify,
    )
    if booking.payment_id is not None:
        push(session, gateway, payment_id=booking.payment_id, now=now, settings=settings)
    booking = session.get(Booking, booking_id)
    assert booking is not None
    return booking, cancellation_refund(booking)


def cancellation_refund(booking: Booking) -> Refund | None:
    """The refund a booking's cancellation made, not one made by hand before it."""
    if booking.payment is None:
        return None
    return booking.payment.cancellation_refund_of(booking.id)


def refund_by_hand(
    session: Session,
    gateway: PaymentGateway,
    *,
    actor: User,
    booking_id: int,
    amount_cents: int,
    note: str,
    now: datetime,
    settings: BookingSettings,
) -> Refund:
    """Staff give money back (all or part of what is left), for whatever reason they note."""
    with write(session):
        actor = session.merge(actor)
        booking = staff_booking(session, actor, booking_id)
        if booking.payment is None:
            raise PaymentError("not_refundable", 409, _l("Nothing was paid for this booking."))
        payment = lock_payment(session, booking.payment.id)
        actor = session.merge(actor)
        _check_refund(payment, amount_cents)
        refund = Refund(
            payment=payment, booking_id=booking_id, amount_cents=amount_cents,
            reason=RefundReason.STAFF, note=note.strip()[:500], created_by=actor,
            created_at=now, updated_at=now,
        )
        session.add(refund)
        session.flush()
        audit.record(
            session, action="refund.created", now=now, actor_id=actor.id,
            object_type="payment", object_id=payment.id,
            details={"refund_id": refund.id, "amount_cents": amount_cents,
                     "booking_id": booking_id, "note": refund.note},
        )
        refund_id, payment_id = refund.id, payment.id
    push(session, gateway, payment_id=payment_id, now=now, settings=settings)
    found = session.get(Refund, refund_id)
    assert found is not None
    return found


def _check_refund(payment: Payment, amount_cents: int) -> None:
    """Refuse a refund of more than is left (or of nothing)."""
    left = payment.refundable_cents
    if left <= 0:
        raise PaymentError("not_refundable", 409, _l("Nothing is left to refund."))
    if not 0 < amount_cents <= left:
        raise PaymentError(
            "invalid", 422,
            _l("The refund must be between %(least)s and %(left)s.",
               least=money(1), left=money(left)),
            fields={"amount_cents": [f"1..{left}"]},
        )
