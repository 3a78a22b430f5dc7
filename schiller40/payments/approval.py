"""Staff decide on a studio booking that needs approval: its card was only authorised.

Approving records the decision and captures the authorisation (retried by reconciliation if
the gateway is down); rejecting cancels the booking and gives the authorisation back.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..booking.cancel import cancel
from ..booking.models import Booking
from ..booking.settings import BookingSettings
from ..core import audit, outbox
from ..core.locking import write
from ..errors import NotFound
from .errors import PaymentError
from .gateway import PaymentGateway
from .locks import lock_payment
from .push import push


def staff_booking(session: Session, actor: User, booking_id: int) -> Booking:
    """The booking a staff decision is about; NotFound for anyone else (a member must not
    learn that it exists)."""
    booking = session.get(Booking, booking_id)
    if booking is None or not actor.is_staff:
        raise NotFound()
    return booking


def _awaiting_approval(session: Session, actor: User, booking_id: int, now: datetime) -> int:
    """The id of the authorised payment of a booking staff may now decide on."""
    booking = staff_booking(session, session.merge(actor), booking_id)
    payment = booking.payment
    if payment is None or not payment.awaits_approval(booking, now):
        raise PaymentError(
            "not_awaiting_approval", 409, _l("This booking is not waiting for approval.")
        )
    return payment.id


def approve(
    session: Session, gateway: PaymentGateway, *, actor: User, booking_id: int, now: datetime,
    settings: BookingSettings,
) -> Booking:
    """Staff accept a studio booking: its authorised payment is captured."""
    with write(session):
        payment = lock_payment(session, _awaiting_approval(session, actor, booking_id, now))
        actor = session.merge(actor)
        payment.approve(now)
        audit.record(
            session, action="booking.approved", now=now, actor_id=actor.id,
            object_type="booking", object_id=booking_id, details={"payment_id": payment.id},
        )
        payment_id = payment.id
    push(session, gateway, payment_id=payment_id, now=now, settings=settings)
    booking = session.get(Booking, booking_id)
    assert booking is not None
    return booking


def reject(
    session: Session, gateway: PaymentGateway, *, actor: User, booking_id: int, now: datetime,
    reason: str | None, settings: BookingSettings,
) -> Booking:
    """Staff turn a studio booking down: it is cancelled and the authorisation given back."""
    with write(session):  # only a check: the cancellation below checks again under its locks
        payment_id = _awaiting_approval(session, actor, booking_id, now)

    def rejected(session: Session, booking: Booking) -> None:
        # In the cancellation's own transaction: the member is never left without a word.
        audit.record(
            session, action="booking.rejected", now=now, actor_id=actor.id,
            object_type="booking", object_id=booking_id, details={"payment_id": payment_id},
        )
        outbox.enqueue(
            session, topic="mail.booking_rejected", now=now, user_id=booking.user_id,
            # The staff's own words only: the default reason is for the records.
            payload={"booking_id": booking_id, "reason": (reason or "").strip() or None},
            key=f"mail.booking_rejected:{booking_id}",
        )

    cancel(
        session, actor=actor, booking_id=booking_id, now=now,
        reason=reason or str(_l("Not approved by the studio team.")), refund="none",
        settings=settings, only_if_authorized=True,
        notify=False,  # the member hears of it once: "not approved"
        also=rejected,
    )
    push(session, gateway, payment_id=payment_id, now=now, settings=settings)
    booking = session.get(Booking, booking_id)
    assert booking is not None
    return booking
