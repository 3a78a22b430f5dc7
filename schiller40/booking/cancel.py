"""Cancelling a booking: the slot is free at once, included credit comes back if in time,
a paid booking is owed its refund, and the waiting list is offered the freed range."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..core import audit, outbox
from ..core.locking import lock_rows
from ..payments import ledger
from ..payments.models import Payment, PaymentStatus, Refund
from .errors import BookingError
from .locks import expire_stale, locked_booking
from .models import Booking
from .offers import offer_freed
from .rules import Interval
from .settings import DEFAULT_SETTINGS, BookingSettings

REFUND_MODES = ("policy", "full", "none")


def cancel(
    session: Session,
    *,
    actor: User,
    booking_id: int,
    now: datetime,
    reason: str | None = None,
    refund: str = "policy",
    settings: BookingSettings = DEFAULT_SETTINGS,
    only_if_authorized: bool = False,
    notify: bool = True,
    also: Callable[[Session, Booking], None] | None = None,
) -> Booking:
    """Cancel a booking; the slot is free at once, included credit comes back if in time.

    ``only_if_authorized`` (staff rejecting a booking that awaits approval): checked under
    the locks, so an approval that captured the money meanwhile is not undone without a
    refund.

    A paid booking is owed a refund by the policy for its kind; staff may refund in full or
    not at all instead (``refund``). The refund is recorded here and sent to the gateway after
    the commit (``payments.push.push``).

    The member is told by mail (``mail.booking_cancelled``) unless ``notify`` is false: an
    account being erased cancels its bookings on the way and should not be written to.
    ``also`` runs in the same transaction, before the commit, for a caller whose own records
    must stand or fall with the cancellation (a rejection's audit entry and its own mail).
    """
    if refund not in REFUND_MODES:
        raise BookingError("invalid", fields={"refund": [f"one of {', '.join(REFUND_MODES)}"]})
    if refund != "policy" and not actor.is_staff:
        raise BookingError(
            "invalid", message=str(_l("Only staff may choose the refund.")),
            fields={"refund": ["staff only"]},
        )
    # Like every booking transaction: holds that ran out expire first. Without this a hold
    # past its time could still be "cancelled", and cancelled late it kept the included
    # credit it had used, although an expired hold gives its credit back.
    with locked_booking(
        session, actor=actor, booking_id=booking_id,
        moved=lambda: BookingError("not_cancellable"),
        under_lock=lambda rid: expire_stale(session, [rid], now=now, settings=settings),
    ) as (actor, booking):
        if not booking.can_cancel(now, by_staff=actor.is_staff):
            raise BookingError("not_cancellable")
        notice = settings.policy.credit_return_notice.get(booking.resource.kind, timedelta(0))
        credit_returned = now <= booking.starts_at - notice
        returned = {"half_days": booking.credit_half_days, "minutes": booking.credit_minutes}
        if booking.payment is not None:
            lock_rows(session, Payment, [booking.payment.id])
            session.refresh(booking.payment)
        if only_if_authorized and (
            booking.payment is None or booking.payment.status is not PaymentStatus.AUTHORIZED
        ):
            raise BookingError("not_awaiting_approval")
        terms = ledger.cancellation_terms(
            booking, now=now, policy=settings.refund_policy, mode=refund
        )
        money_back = ledger.refund_cancellation(session, booking, terms, actor=actor, now=now)
        booking.cancel(now, by_id=actor.id, reason=(reason or "").strip()[:500] or None,
                       return_credit=credit_returned)
        _record(
            session, booking, actor, now=now, terms=terms, money_back=money_back,
            credit_returned=returned if credit_returned else None, notify=notify,
        )
        if also is not None:
            also(session, booking)
        offer_freed(
            session, booking.resource, Interval(booking.starts_at, booking.ends_at), now=now,
            settings=settings,
        )
    return booking


def _record(
    session: Session, booking: Booking, actor: User, *, now: datetime,
    terms: ledger.CancellationTerms, money_back: Refund | None,
    credit_returned: dict[str, int] | None, notify: bool,
) -> None:
    """The audit entry, and (unless ``notify`` is false) the member's mail."""
    audit.record(
        session, action="booking.cancelled", now=now, actor_id=actor.id,
        object_type="booking", object_id=booking.id,
        details={
            "credit_returned": credit_returned,
            "reason": booking.cancel_reason,
            **({"refund_cents": money_back.amount_cents, "refund_id": money_back.id}
               if money_back else {}),
            **({"on_behalf_of": booking.user_id} if actor.id != booking.user_id else {}),
        },
    )
    if notify and booking.user_id is not None:
        outbox.enqueue(
            session, topic="mail.booking_cancelled", now=now, user_id=booking.user_id,
            payload={
                "booking_ids": [booking.id],
                "refund_cents": money_back.amount_cents if money_back else 0,
                "by_staff": actor.id != booking.user_id,
                "reason": booking.cancel_reason or "",
                # What the refund line says: "paid" (the refund, or none under the terms),
                # "unpaid" (nothing was taken), "pending" (money may still arrive).
                "paid_cents": terms.paid_cents,
                "payment_state": terms.payment_state,
            },
        )
