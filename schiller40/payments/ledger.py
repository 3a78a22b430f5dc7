"""Payment bookkeeping inside a booking transaction: no gateway calls, no commits.

The booking service calls these while it holds its locks, so a held booking and the payment
that will pay for it are written together, and a cancellation and the refund it is owed are
written together. Talking to the gateway happens later, after the commit
(``push.push``), and is retried by reconciliation if it fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..accounts.models import User
from ..booking.models import Booking, BookingStatus
from ..resources.models import ResourceKind
from .models import (
    DESK_METHODS,
    DESK_PROVIDER,
    CaptureMethod,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundReason,
)
from .states import RefundQuote, RefundStep, refund_quote

# Cards can be authorised for about seven days; a studio booking that needs approval is only
# authorised (not charged) if it starts within this window, so staff can decide in time.
APPROVAL_WINDOW = timedelta(days=7)
# Staff must approve before this much of the authorisation's life has passed (or the start).
APPROVAL_DEADLINE = timedelta(days=6)


def needs_approval(bookings: list[Booking], now: datetime) -> bool:
    """Manual capture: every booking is on a resource needing approval and starts soon."""
    return bool(bookings) and all(
        b.resource.requires_approval and b.starts_at <= now + APPROVAL_WINDOW for b in bookings
    )


def approval_deadline(bookings: list[Booking], now: datetime) -> datetime:
    return min([now + APPROVAL_DEADLINE, *(b.starts_at for b in bookings)])


def open_payment(
    session: Session, bookings: list[Booking], *, user: User, provider: str, currency: str,
    now: datetime,
) -> Payment | None:
    """A payment for the bookings that are held until paid (None if nothing is owed)."""
    held = [b for b in bookings if b.status is BookingStatus.HELD and b.price_gross_cents > 0]
    if not held:
        return None
    return _payment_for(
        session, held, user=user, provider=provider, status=PaymentStatus.PENDING,
        capture_method=(
            CaptureMethod.MANUAL if needs_approval(held, now) else CaptureMethod.AUTOMATIC
        ),
        currency=currency, created_at=now, updated_at=now,
    )


def _payment_for(session: Session, bookings: list[Booking], **fields: object) -> Payment:
    """A payment of what ``bookings`` cost (gross, net and tax summed), and they point to it."""
    payment = Payment(
        amount_cents=sum(b.price_gross_cents for b in bookings),
        net_cents=sum(b.price_net_cents for b in bookings),
        tax_cents=sum(b.price_tax_cents for b in bookings),
        **fields,
    )
    session.add(payment)
    for booking in bookings:
        booking.payment = payment
    session.flush()
    return payment


def settle_at_desk(
    session: Session, bookings: list[Booking], *, user: User, method: PaymentMethod,
    actor: User, currency: str, now: datetime,
) -> Payment | None:
    """The payment staff took at the desk (cash or card terminal: paid as recorded) or put on
    the member's invoice (open until the transfer is recorded) for bookings they made
    confirmed (None if nothing is owed). Never seen by the gateway (``DESK_PROVIDER``)."""
    owed = [b for b in bookings if b.price_gross_cents > 0]
    if not owed:
        return None
    paid = method in DESK_METHODS
    return _payment_for(
        session, owed, user=user,
        # On invoice through the company's permission (not the member's own): billed to it.
        company_id=(
            user.company_id
            if method is PaymentMethod.INVOICE and not user.may_pay_on_invoice
            else None
        ),
        provider=DESK_PROVIDER, method=method,
        status=PaymentStatus.PAID if paid else PaymentStatus.PENDING,
        received_cents=sum(b.price_gross_cents for b in owed) if paid else 0,
        currency=currency, recorded_by_id=actor.id,
        settled_at=now if paid else None, settled_by_id=actor.id if paid else None,
        created_at=now, updated_at=now,
    )


@dataclass(frozen=True)
class CancellationTerms:
    """What cancelling a booking now gives back; shown before the member confirms."""

    paid_cents: int
    quote: RefundQuote
    # "paid": money has arrived and the quote applies; "unpaid": nothing was taken (a hold,
    # or an authorisation that will be released); "pending": money may still arrive and
    # would then be refunded in full.
    payment_state: str


def cancellation_terms(
    booking: Booking,
    *,
    now: datetime,
    policy: Mapping[ResourceKind, tuple[RefundStep, ...]],
    mode: str = "policy",
) -> CancellationTerms:
    payment = booking.payment
    if payment is None or payment.status is not PaymentStatus.PAID:
        state = (
            "pending"
            if payment is not None and payment.status is PaymentStatus.PROCESSING
            else "unpaid"
        )
        return CancellationTerms(0, RefundQuote(0, 0, None), state)
    paid = booking.price_gross_cents
    if mode == "full":
        quote = RefundQuote(100, paid, None)
    elif mode == "none":
        quote = RefundQuote(0, 0, None)
    else:
        quote = refund_quote(
            policy.get(booking.resource.kind, ()), paid_cents=paid, starts_at=booking.starts_at,
            now=now,
        )
    # Never more than this booking still has to give back (staff may have refunded part of
    # it by hand), nor than the payment still holds: in a series the payment's remainder
    # also carries the other dates' money.
    given_back = payment.given_back_cents(booking.id)
    amount = max(min(quote.amount_cents, paid - given_back, payment.refundable_cents), 0)
    return CancellationTerms(paid, RefundQuote(quote.percent, amount, quote.step), "paid")


def refund_cancellation(
    session: Session, booking: Booking, terms: CancellationTerms, *, actor: User, now: datetime
) -> Refund | None:
    """Record the refund a cancellation is owed; the gateway is asked after the commit."""
    if booking.payment is None or terms.quote.amount_cents <= 0:
        return None
    refund = Refund(
        payment=booking.payment,
        booking_id=booking.id,
        amount_cents=terms.quote.amount_cents,
        reason=RefundReason.CANCELLATION,
        note=f"{terms.quote.percent} %",
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    session.flush()
    return refund
