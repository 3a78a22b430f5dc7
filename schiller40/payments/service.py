"""Payment use cases: open a checkout, learn what the gateway knows, act on it, refund.

Two directions, each safe to repeat:

- **pull** (``refresh``, ``handle_event``): fetch the checkout from the gateway (never trusting
  a webhook's payload), then in one locked transaction move our payment forward (never back)
  and apply what that means for its bookings: confirm them, release them, or refund money
  that came too late.
- **push** (``push``): make the gateway match what we decided: expire a checkout nobody may
  pay any more, capture an approved authorisation, give back one that is not wanted, send
  recorded refunds. Every call carries an idempotency key derived from our records.

No gateway call is made inside a database transaction, so a slow gateway holds no locks; a
crash between the two halves leaves a state that ``reconcile`` repairs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_currency
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..booking.locks import lock_member
from ..booking.models import Booking, BookingStatus
from ..booking.settings import BookingSettings
from ..core import audit, outbox
from ..core.locking import begin_write, lock_rows
from ..core.money import money
from ..errors import DomainError, NotFound
from ..resources.models import Resource
from . import ledger
from .gateway import (
    Checkout,
    CheckoutRequest,
    GatewayError,
    GatewayNotFound,
    GatewayRefused,
    LineItem,
    PaymentGateway,
)
from .models import (
    CaptureMethod,
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    WebhookEvent,
)
from .states import advance, observed_status

log = logging.getLogger(__name__)


class PaymentError(DomainError):
    code = "payment_error"
    status = 409

    def __init__(self, code: str, status: int, message: Any, **kwargs: Any) -> None:
        self.code = code
        self.status = status
        super().__init__(str(message), **kwargs)


def unavailable() -> PaymentError:
    error = PaymentError(
        "payment_unavailable", 503,
        _l("The payment service cannot be reached right now, so your reservation was "
           "released. Please try again in a few minutes."),
    )
    error.headers = {"Retry-After": "60"}
    return error


# --- opening a checkout --------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnUrls:
    success: str
    cancel: str


def _line_item(booking: Booking, locale: str, vat_percent: int, currency: str) -> LineItem:
    resource = booking.resource
    tz = resource.location.tz
    when = (
        f"{format_datetime(booking.starts_at, 'EEE dd.MM.yyyy HH:mm', tzinfo=tz, locale=locale)}"
        f"–{format_datetime(booking.ends_at, 'HH:mm', tzinfo=tz, locale=locale)}"
    )
    vat = format_currency(booking.price_tax_cents / 100, currency, locale=locale)
    # In the member's language, not the request's: the API answers a token, which carries
    # no Accept-Language, and Stripe shows this text on its page and on the receipt.
    with force_locale(locale):
        description = str(
            _l("Booking %(id)s · includes %(percent)s %% VAT (%(vat)s)", id=booking.id,
               percent=vat_percent, vat=vat)
        )
    return LineItem(
        name=f"{resource.name}, {when}",
        description=description,
        amount_cents=booking.price_gross_cents,
    )


def start_checkout(
    session: Session,
    gateway: PaymentGateway,
    *,
    payment_id: int,
    now: datetime,
    urls: ReturnUrls,
    locale: str = "de",
    settings: BookingSettings,
) -> Payment:
    """Open the gateway's checkout for a payment (or return the one already open).

    If the gateway cannot be reached the member's holds are released at once: a slot must
    not stay blocked for a payment nobody can make.
    """
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound()
    held = [b for b in payment.bookings if b.effective_status(now) is BookingStatus.HELD]
    if payment.status is not PaymentStatus.PENDING or not held:
        session.rollback()
        raise PaymentError(
            "not_payable", 409, _l("This booking is not waiting for payment.")
        )
    if payment.checkout_id and payment.checkout_url:
        session.rollback()
        return payment
    if payment.checkout_expires_at is None:
        payment = _plan_expiry(session, payment_id, gateway, now=now)
        held = [b for b in payment.bookings if b.status is BookingStatus.HELD]
    assert payment.checkout_expires_at is not None
    request = CheckoutRequest(
        payment_id=payment.id,
        reference=str(held[0].id),
        booking_ids=tuple(b.id for b in held),
        customer_email=payment.user.email if payment.user else None,
        items=tuple(
            _line_item(b, locale, settings.policy.vat_percent, payment.currency) for b in held
        ),
        currency=payment.currency,
        manual_capture=payment.capture_method is CaptureMethod.MANUAL,
        expires_at=payment.checkout_expires_at,
        success_url=urls.success,
        cancel_url=urls.cancel,
        idempotency_key=payment.idempotency_key,
        locale=locale if locale in ("de", "en") else "auto",
    )
    session.rollback()  # no transaction (and no lock) while we wait for the gateway
    try:
        checkout = gateway.create_checkout(request, now=now)
    except GatewayError as exc:
        log.warning("checkout for payment %s could not be opened: %s", payment_id, exc)
        _give_up(session, payment_id, now=now, settings=settings, reason="gateway_unavailable")
        raise unavailable() from exc

    payment = _lock(session, payment_id)
    payment.checkout_id = checkout.id
    payment.checkout_url = checkout.url
    payment.checkout_expires_at = checkout.expires_at
    payment.updated_at = now
    for booking in payment.bookings:
        # The hold lasts exactly as long as the checkout (Stripe's shortest is 30 minutes).
        if (
            booking.status is BookingStatus.HELD
            and booking.hold_expires_at is not None
            and booking.hold_expires_at < checkout.expires_at
        ):
            booking.hold_expires_at = checkout.expires_at
    audit.record(
        session, action="payment.checkout_opened", now=now, actor_id=None,
        object_type="payment", object_id=payment.id,
        details={"provider": gateway.name, "checkout": checkout.id,
                 "amount_cents": payment.amount_cents},
    )
    session.commit()
    return payment


def _plan_expiry(
    session: Session, payment_id: int, gateway: PaymentGateway, *, now: datetime
) -> Payment:
    """Fix when the checkout will expire, once, and hold the slots exactly that long.

    Stored before the gateway is called, so a retry (a double click, a crash, a timeout)
    sends the very same parameters with the same idempotency key; a time worked out afresh
    each time would differ, and Stripe refuses a reused key with other parameters.
    """
    payment = _lock(session, payment_id)
    held = [b for b in payment.bookings if b.status is BookingStatus.HELD]
    if payment.checkout_expires_at is None and held:
        hold = min(b.hold_expires_at for b in held if b.hold_expires_at is not None)
        shortest = now + gateway.min_checkout_lifetime
        if shortest.microsecond:  # Stripe counts whole seconds; never end early
            shortest = shortest.replace(microsecond=0) + timedelta(seconds=1)
        expires_at = max(hold, shortest)
        payment.checkout_expires_at = expires_at
        for booking in held:
            if booking.hold_expires_at is None or booking.hold_expires_at < expires_at:
                booking.keep_hold_until(expires_at, now)
    session.commit()
    payment = session.get(Payment, payment_id)
    assert payment is not None
    if payment.checkout_expires_at is None or not any(
        b.status is BookingStatus.HELD for b in payment.bookings
    ):
        session.rollback()
        raise PaymentError("not_payable", 409, _l("This booking is not waiting for payment."))
    return payment


def _lock(session: Session, payment_id: int) -> Payment:
    """Take the locks a payment's changes need, in the global order: member, resources,
    payment. A booking changes status here, which frees or confirms a slot."""
    begin_write(session)
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound()
    lock_member(session, payment.user)
    lock_rows(session, Resource, [b.resource_id for b in payment.bookings])
    lock_rows(session, Payment, [payment.id])
    # Everything read before the locks may be stale (another process may have changed the
    # bookings or refunds meanwhile): read it all again under them.
    session.expire_all()
    payment = session.get(Payment, payment_id)
    assert payment is not None
    return payment


def _give_up(
    session: Session, payment_id: int, *, now: datetime, settings: BookingSettings, reason: str
) -> None:
    payment = _lock(session, payment_id)
    if payment.status is PaymentStatus.PENDING:
        payment.status = PaymentStatus.FAILED
        payment.failure_reason = reason
        payment.updated_at = now
        _release(session, payment, now=now, settings=settings, why=reason)
    session.commit()


# --- pull: learning what the gateway knows -------------------------------------------------


def refresh(
    session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime,
    settings: BookingSettings, strict: bool = False,
) -> Payment:
    """Fetch the payment's checkout and apply it; then push what follows (``strict``: see
    ``push``)."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound()
    checkout_id = payment.checkout_id
    session.rollback()
    if checkout_id is not None:
        checkout = gateway.get_checkout(checkout_id, now=now)
        _apply(session, payment_id, checkout, now=now, settings=settings)
    else:
        _close_unopened(session, payment_id, now=now, settings=settings)
        _expire_orphans(session, gateway, payment_id, now=now, settings=settings)
    return push(
        session, gateway, payment_id=payment_id, now=now, settings=settings, strict=strict
    )


# How far a gateway's clock may lag ours when looking for checkouts by creation time.
CLOCK_SKEW = timedelta(minutes=5)


def _expire_orphans(
    session: Session, gateway: PaymentGateway, payment_id: int, *, now: datetime,
    settings: BookingSettings,
) -> None:
    """Expire a checkout the gateway opened for a payment we gave up on without learning
    its id: the create timed out after the gateway had done it (a slow Stripe), so the
    member was told "try again later" and the hold was released, while a payable checkout
    stayed open at the gateway until its expiry. Nobody may pay for a released slot.

    Only for a payment no longer pending (so no request is opening its checkout right now)
    whose checkout would still be open (``checkout_expires_at`` is what we asked for and
    is set before the create is sent). The checkout found is recorded on the payment, so
    the next run reads it by id instead of searching again.
    """
    payment = session.get(Payment, payment_id)
    assert payment is not None
    expires_at, created_at = payment.checkout_expires_at, payment.created_at
    abandoned = (
        payment.status in (PaymentStatus.FAILED, PaymentStatus.EXPIRED)
        and payment.checkout_id is None
        and expires_at is not None
        and expires_at > now
    )
    session.rollback()
    if not abandoned:
        return
    for found in gateway.find_checkouts(payment_id, since=created_at - CLOCK_SKEW):
        if found.status == "open":
            log.warning("payment %s: expiring checkout %s, opened after we gave up on it",
                        payment_id, found.id)
            checkout = gateway.expire_checkout(found.id, now=now)
        else:  # paid after all (money to give back) or expired: the full picture
            checkout = gateway.get_checkout(found.id, now=now)
        _apply(session, payment_id, checkout, now=now, settings=settings)


def _close_unopened(
    session: Session, payment_id: int, *, now: datetime, settings: BookingSettings
) -> None:
    """A payment whose checkout was never opened (the process died between the booking's
    commit and the gateway call) ends when its holds have run out: nobody can pay it."""
    payment = _lock(session, payment_id)
    active = [
        b for b in payment.bookings
        if b.effective_status(now) in (BookingStatus.HELD, BookingStatus.CONFIRMED)
    ]
    if payment.status is PaymentStatus.PENDING and payment.checkout_id is None and not active:
        payment.status = PaymentStatus.EXPIRED
        payment.failure_reason = "checkout_never_opened"
        payment.updated_at = now
        audit.record(
            session, action="payment.expired", now=now, actor_id=None,
            object_type="payment", object_id=payment.id,
            details={"from": "pending", "reason": "checkout_never_opened"},
        )
        _release(session, payment, now=now, settings=settings, why="expired")
    session.commit()


def handle_event(
    session: Session,
    gateway: PaymentGateway,
    *,
    event_id: str,
    event_type: str,
    object_id: str,
    now: datetime,
    settings: BookingSettings,
) -> str:
    """Act on a gateway event: "handled", "duplicate" or "ignored".

    The event is only a trigger: the object is fetched from the gateway again, so a forged,
    stale or reordered payload cannot make us believe anything the gateway does not say.
    Recording the event id and applying its effect happen in one transaction: a crash in
    between leaves neither, and the gateway's retry does the work.
    """
    seen = session.get(WebhookEvent, event_id) is not None
    session.rollback()  # no transaction open while the gateway is asked below
    if seen:
        return "duplicate"
    try:
        checkout = _checkout_of_event(session, gateway, event_type, object_id, now=now)
    except GatewayNotFound as exc:
        # Deleted, of another account or mode, or never there: no retry changes that, and
        # a 503 made Stripe retry for three days. Nothing of ours, like the cases below.
        session.rollback()
        log.warning("webhook %s (%s): the gateway does not know %s: ignored (%s)",
                    event_id, event_type, object_id, exc)
        checkout = None
    payment_id = _payment_for(session, checkout)
    if checkout is None or payment_id is None:
        # Not ours (another integration on the same Stripe account) or not a type we use:
        # remember it, so a replay is answered without fetching anything.
        begin_write(session)
        session.add(WebhookEvent(
            id=event_id, provider=gateway.name, type=event_type, object_id=object_id,
            received_at=now,
        ))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return "duplicate"
        return "ignored"
    event = WebhookEvent(
        id=event_id, provider=gateway.name, type=event_type, object_id=object_id,
        payment_id=payment_id, received_at=now,
    )
    if not _apply(session, payment_id, checkout, now=now, settings=settings, event=event):
        return "duplicate"
    push(session, gateway, payment_id=payment_id, now=now, settings=settings)
    return "handled"


def _checkout_of_event(
    session: Session, gateway: PaymentGateway, event_type: str, object_id: str, *,
    now: datetime,
) -> Checkout | None:
    """The checkout an event is about, fetched afresh from the gateway; None if the event is
    about nothing of ours. Raises ``GatewayNotFound`` if the gateway does not know its
    object, ``GatewayError`` if it cannot be asked."""
    checkout_id: str | None = None
    if not object_id:
        pass  # an object without an id (a balance): nothing of ours
    elif event_type.startswith("checkout.session."):
        checkout_id = object_id
    elif event_type.startswith("payment_intent.") or _is_charge_event(event_type):
        intent_id = (
            object_id if event_type.startswith("payment_intent.")
            else gateway.intent_of_charge(object_id)
        )
        if intent_id:
            checkout_id = session.scalar(
                select(Payment.checkout_id).where(Payment.payment_intent_id == intent_id)
            )
    elif event_type.startswith(("refund.", "charge.refund.")):
        # A refund of ours that Stripe had accepted as pending has succeeded or failed. Only
        # ones we know by id: a refund made in the dashboard comes with "charge.refunded".
        checkout_id = session.scalar(
            select(Payment.checkout_id).join(Refund, Refund.payment_id == Payment.id)
            .where(Refund.provider_refund_id == object_id)
        )
    session.rollback()  # no transaction open while the gateway is asked
    return gateway.get_checkout(checkout_id, now=now) if checkout_id else None


def _is_charge_event(event_type: str) -> bool:
    """``charge.refunded``, ``charge.succeeded``, ...: the event's object is a charge. Not
    ``charge.dispute.*`` or ``charge.refund.updated``, whose objects are a dispute or a refund:
    asking for those as charges fails, and the webhook would answer 503 until Stripe gives up
    on it."""
    return event_type.startswith("charge.") and event_type.count(".") == 1


def _payment_for(session: Session, checkout: Checkout | None) -> int | None:
    if checkout is None:
        return None
    found = session.scalar(select(Payment.id).where(Payment.checkout_id == checkout.id))
    if found is None and checkout.payment_id is not None:
        # We crashed between opening the checkout and writing its id: the metadata names
        # the payment, and only if that payment has no other checkout.
        row = session.get(Payment, checkout.payment_id)
        if row is not None and row.checkout_id in (None, checkout.id):
            found = row.id
    session.rollback()
    return found


def _apply(
    session: Session,
    payment_id: int,
    checkout: Checkout,
    *,
    now: datetime,
    settings: BookingSettings,
    event: WebhookEvent | None = None,
) -> bool:
    """Apply the gateway's view; False if ``event`` was handled by another process."""
    payment = _lock(session, payment_id)
    if event is not None:
        session.add(event)
        try:
            session.flush()
        except IntegrityError:  # the same event, handled by another process meanwhile
            session.rollback()
            return False
    before = payment.status
    if payment.checkout_id is None:
        payment.checkout_id = checkout.id
        payment.checkout_url = checkout.url
        payment.checkout_expires_at = checkout.expires_at
    intent = checkout.intent
    if intent is not None:
        payment.payment_intent_id = intent.id
        payment.received_cents = max(payment.received_cents, intent.received_cents)
        _sync_refunds(session, payment, intent.refunds, now=now)
    after = advance(before, observed_status(checkout))
    if after is not before:
        payment.status = after
        payment.updated_at = now
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
            # A slow method (SEPA) settles days later. The member has paid as far as they
            # can: the slot stays theirs until the money arrives or the debit fails, at most
            # until the booking ends. (The checkout's 30 minutes would give it away.)
            for booking in payment.bookings:
                if booking.status is BookingStatus.HELD:
                    booking.keep_hold_until(booking.ends_at, now)
        elif after is PaymentStatus.AUTHORIZED:
            held = [b for b in payment.bookings if b.status is BookingStatus.HELD]
            deadline = ledger.approval_deadline(held, now)
            for booking in held:
                booking.keep_hold_until(deadline, now)
            if held:
                # Staff must decide before the deadline: tell them now (to the staff
                # address, if one is configured; once per payment, however often the
                # gateway reports the authorisation).
                outbox.enqueue(
                    session, topic="mail.approval_needed", now=now,
                    payload={"booking_ids": [b.id for b in held]},
                    key=f"mail.approval_needed:{payment.id}",
                )
        elif after in (PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED):
            _release(session, payment, now=now, settings=settings, why=after.value)
    session.commit()
    return True


def _sync_refunds(
    session: Session, payment: Payment, remote: Iterable[Any], *, now: datetime
) -> None:
    """Mark our refunds done when the gateway shows them; record ones made elsewhere."""
    by_id = {r.id: r for r in payment.refunds}
    by_provider = {r.provider_refund_id: r for r in payment.refunds if r.provider_refund_id}
    for seen in remote:
        local = by_provider.get(seen.id) or (by_id.get(seen.local_id) if seen.local_id else None)
        if local is not None:
            local.provider_refund_id = seen.id
            if local.status is RefundStatus.PENDING and seen.status == "succeeded":
                local.status = RefundStatus.SUCCEEDED
                local.updated_at = now
                _announce_refund(session, payment, local, now=now)
            elif local.status is not RefundStatus.FAILED and seen.status in (
                "failed", "canceled"
            ):
                # Also after it was reported succeeded: a card refund can still fail later,
                # and then the money has not reached the member; staff must see that.
                local.status = RefundStatus.FAILED
                local.failure_message = f"gateway status {seen.status}"
                local.updated_at = now
                audit.record(
                    session, action="refund.failed", now=now, actor_id=None,
                    object_type="payment", object_id=payment.id,
                    details={"refund_id": local.id, "message": local.failure_message},
                )
        elif seen.status in ("succeeded", "pending"):
            # Made in the Stripe dashboard: keep the record complete for staff and members.
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
                _announce_refund(session, payment, external, now=now)
            audit.record(
                session, action="refund.recorded", now=now, actor_id=None,
                object_type="payment", object_id=payment.id,
                details={"amount_cents": seen.amount_cents, "provider_refund_id": seen.id},
            )
    session.flush()
    # From the rows, not a running maximum: a refund that failed after all is given back.
    done = sum(r.amount_cents for r in payment.refunds if r.status is RefundStatus.SUCCEEDED)
    payment.refunded_cents = min(done, payment.received_cents)


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
            if payment.capture_method is CaptureMethod.MANUAL and payment.approved_at is not None
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
                        charged if payment.capture_method is CaptureMethod.MANUAL
                        else payment.bookings
                    )
                ],
            },
            key=f"mail.payment_received:{payment.id}",
        )


def _announce_refund(
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
    kept = sum(
        b.price_gross_cents for b in payment.bookings if b.status is BookingStatus.CONFIRMED
    )
    excess = payment.refundable_cents - kept
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


def _release(
    session: Session, payment: Payment, *, now: datetime, settings: BookingSettings, why: str
) -> None:
    from ..booking.offers import offer_freed
    from ..booking.rules import Interval

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


# --- push: making the gateway match our decisions ------------------------------------------


def push(
    session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime,
    settings: BookingSettings, strict: bool = False,
) -> Payment:
    """Carry out what our records say is due at the gateway, then learn the result.

    Failures are logged and left for ``reconcile``: the decision is already committed.
    ``strict`` (reconcile itself) raises the gateway's error instead, so what is still
    owed at the gateway is reported rather than counted as done.
    """
    for _round in range(3):
        payment = session.get(Payment, payment_id)
        if payment is None:
            raise NotFound()
        actions = _due(payment, now)
        checkout_id = payment.checkout_id
        session.rollback()
        if not actions:
            break
        try:
            for action in actions:
                action(session, gateway, payment_id=payment_id, now=now)
            if checkout_id:
                checkout = gateway.get_checkout(checkout_id, now=now)
                _apply(session, payment_id, checkout, now=now, settings=settings)
        except GatewayError as exc:
            # Refused (a rotated key, an object gone) is as much "not done" as unreachable:
            # the decision stands, and reconcile reports it.
            if strict:
                raise
            log.warning("payment %s: gateway unavailable, left for reconcile: %s",
                        payment_id, exc)
            break
    payment = session.get(Payment, payment_id)
    assert payment is not None
    return payment


Action = Any


def _due(payment: Payment, now: datetime) -> list[Action]:
    active = [
        b for b in payment.bookings
        if b.effective_status(now) in (BookingStatus.HELD, BookingStatus.CONFIRMED)
    ]
    actions: list[Action] = []
    if payment.status is PaymentStatus.PENDING and payment.checkout_id and not active:
        actions.append(_expire)
    if payment.status is PaymentStatus.AUTHORIZED:
        if not active:
            actions.append(_cancel_authorization)
        elif payment.approved_at is not None:
            actions.append(_capture)
    if any(_unsent(r) for r in payment.refunds) and payment.payment_intent_id:
        actions.append(_send_refunds)
    return actions


def _unsent(refund: Refund) -> bool:
    """Recorded, and the gateway has not accepted it yet. One it accepted and still shows as
    pending (a SEPA refund goes back by bank transfer, over days) is never sent again: the
    idempotency key would answer for 24 hours only, and then make a second refund. Pulling
    the checkout (``_sync_refunds``) learns how it ends."""
    return refund.status is RefundStatus.PENDING and refund.provider_refund_id is None


def _expire(session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime) -> None:
    payment = session.get(Payment, payment_id)
    assert payment is not None and payment.checkout_id is not None
    checkout_id = payment.checkout_id
    session.rollback()
    gateway.expire_checkout(checkout_id, now=now)


def _capture(session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime) -> None:
    payment = session.get(Payment, payment_id)
    assert payment is not None and payment.payment_intent_id is not None
    amount = sum(
        b.price_gross_cents for b in payment.bookings
        if b.effective_status(now) is BookingStatus.HELD
    )
    intent_id, key = payment.payment_intent_id, payment.idempotency_key
    session.rollback()
    try:
        # The amount in the key: a retry after a series booking was cancelled meanwhile
        # captures less, and Stripe refuses a key reused with other parameters.
        gateway.capture(intent_id, amount_cents=amount, idempotency_key=f"{key}-{amount}")
    except GatewayRefused as exc:
        log.error("payment %s: capture refused: %s", payment_id, exc)


def _cancel_authorization(
    session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime
) -> None:
    payment = session.get(Payment, payment_id)
    assert payment is not None and payment.payment_intent_id is not None
    intent_id, key = payment.payment_intent_id, payment.idempotency_key
    session.rollback()
    try:
        gateway.cancel_authorization(intent_id, idempotency_key=key)
    except GatewayRefused as exc:
        log.error("payment %s: cancelling the authorisation refused: %s", payment_id, exc)


def _send_refunds(
    session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime
) -> None:
    payment = session.get(Payment, payment_id)
    assert payment is not None and payment.payment_intent_id is not None
    intent_id = payment.payment_intent_id
    pending = [(r.id, r.amount_cents, r.idempotency_key) for r in payment.refunds if _unsent(r)]
    session.rollback()
    for refund_id, amount, key in pending:
        try:
            remote = gateway.refund(
                intent_id, amount_cents=amount, idempotency_key=key, local_id=refund_id
            )
        except GatewayRefused as exc:
            _refund_failed(session, payment_id, refund_id, str(exc), now=now)
            continue
        begin_write(session)
        lock_rows(session, Payment, [payment_id])
        refund = session.get(Refund, refund_id)
        assert refund is not None
        refund.provider_refund_id = remote.id
        if remote.status == "succeeded" and refund.status is RefundStatus.PENDING:
            refund.status = RefundStatus.SUCCEEDED
            refund.updated_at = now
            owner = session.get(Payment, payment_id)
            assert owner is not None
            owner.refunded_cents = min(
                owner.refunded_cents + amount, owner.received_cents
            )
            audit.record(
                session, action="refund.succeeded", now=now, actor_id=None,
                object_type="payment", object_id=payment_id,
                details={"refund_id": refund_id, "amount_cents": amount,
                         "reason": refund.reason.value},
            )
            _announce_refund(session, owner, refund, now=now)
        session.commit()


def _refund_failed(
    session: Session, payment_id: int, refund_id: int, message: str, *, now: datetime
) -> None:
    log.error("refund %s of payment %s refused by the gateway: %s", refund_id, payment_id,
              message)
    begin_write(session)
    lock_rows(session, Payment, [payment_id])
    refund = session.get(Refund, refund_id)
    if refund is not None and refund.status is RefundStatus.PENDING:
        refund.status = RefundStatus.FAILED
        refund.failure_message = message[:500]
        refund.updated_at = now
        audit.record(
            session, action="refund.failed", now=now, actor_id=None,
            object_type="payment", object_id=payment_id,
            details={"refund_id": refund_id, "message": message[:200]},
        )
    session.commit()


# --- staff decisions -----------------------------------------------------------------------


def _staff_booking(session: Session, actor: User, booking_id: int) -> Booking:
    booking = session.get(Booking, booking_id)
    if booking is None or not actor.is_staff:
        raise NotFound()
    return booking


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
    from ..booking.cancel import cancel

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
    """The refund a booking's cancellation made, not one made by hand before it: a booking
    is cancelled once, so it has one cancellation refund at most."""
    if booking.payment is None:
        return None
    made = [
        r for r in booking.payment.refunds
        if r.booking_id == booking.id and r.reason is RefundReason.CANCELLATION
    ]
    return made[-1] if made else None


def _awaiting_approval(session: Session, actor: User, booking_id: int, now: datetime) -> int:
    """The id of the authorised payment of a booking staff may now decide on."""
    begin_write(session)
    booking = _staff_booking(session, session.merge(actor), booking_id)
    payment = booking.payment
    if (
        payment is None
        or payment.status is not PaymentStatus.AUTHORIZED
        or booking.effective_status(now) is not BookingStatus.HELD
    ):
        session.rollback()
        raise PaymentError(
            "not_awaiting_approval", 409, _l("This booking is not waiting for approval.")
        )
    return payment.id


def approve(
    session: Session, gateway: PaymentGateway, *, actor: User, booking_id: int, now: datetime,
    settings: BookingSettings,
) -> Booking:
    """Staff accept a studio booking: its authorised payment is captured."""
    payment = _lock(session, _awaiting_approval(session, actor, booking_id, now))
    actor = session.merge(actor)
    payment.approved_at = now
    payment.updated_at = now
    audit.record(
        session, action="booking.approved", now=now, actor_id=actor.id,
        object_type="booking", object_id=booking_id, details={"payment_id": payment.id},
    )
    payment_id = payment.id
    session.commit()
    push(session, gateway, payment_id=payment_id, now=now, settings=settings)
    booking = session.get(Booking, booking_id)
    assert booking is not None
    return booking


def reject(
    session: Session, gateway: PaymentGateway, *, actor: User, booking_id: int, now: datetime,
    reason: str | None, settings: BookingSettings,
) -> Booking:
    """Staff turn a studio booking down: it is cancelled and the authorisation given back."""
    from ..booking.cancel import cancel

    payment_id = _awaiting_approval(session, actor, booking_id, now)
    session.rollback()
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
    begin_write(session)
    actor = session.merge(actor)
    booking = _staff_booking(session, actor, booking_id)
    if booking.payment is None:
        session.rollback()
        raise PaymentError("not_refundable", 409, _l("Nothing was paid for this booking."))
    payment = _lock(session, booking.payment.id)
    actor = session.merge(actor)
    left = payment.refundable_cents
    if left <= 0:
        session.rollback()
        raise PaymentError("not_refundable", 409, _l("Nothing is left to refund."))
    if not 0 < amount_cents <= left:
        session.rollback()
        raise PaymentError(
            "invalid", 422,
            _l("The refund must be between %(least)s and %(left)s.",
               least=money(1), left=money(left)),
            fields={"amount_cents": [f"1..{left}"]},
        )
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
    session.commit()
    push(session, gateway, payment_id=payment_id, now=now, settings=settings)
    found = session.get(Refund, refund_id)
    assert found is not None
    return found


# --- reconciliation ------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    checked: int = 0
    changed: int = 0
    failed: list[int] = field(default_factory=list)


RECENT = timedelta(days=3)


def reconcile(
    session: Session, gateway: PaymentGateway, *, now: datetime, settings: BookingSettings,
    recent: timedelta = RECENT,
) -> ReconcileReport:
    """Re-fetch every open payment and every recent one, and repair what a lost webhook or a
    crash left behind. Each step is idempotent and locked, so several machines may run this
    at the same time."""
    ids = session.scalars(
        select(Payment.id)
        .where(
            Payment.provider == gateway.name,
            or_(
                Payment.status.in_(
                    [PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.AUTHORIZED]
                ),
                Payment.updated_at >= now - recent,
                Payment.id.in_(
                    select(Refund.payment_id).where(Refund.status == RefundStatus.PENDING)
                ),
            ),
        )
        .order_by(Payment.id)
    ).all()
    session.rollback()
    report = ReconcileReport()
    for payment_id in ids:
        report.checked += 1
        before = _fingerprint(session, payment_id)
        try:
            refresh(
                session, gateway, payment_id=payment_id, now=now, settings=settings,
                strict=True,
            )
        except GatewayError as exc:
            session.rollback()
            log.warning("reconcile: payment %s: %s", payment_id, exc)
            report.failed.append(payment_id)
            continue
        if _fingerprint(session, payment_id) != before:
            report.changed += 1
    return report


def _fingerprint(session: Session, payment_id: int) -> tuple[Any, ...]:
    payment = session.get(Payment, payment_id)
    assert payment is not None
    session.refresh(payment)
    value = (
        payment.status, payment.checkout_id, payment.received_cents, payment.refunded_cents,
        tuple((r.id, r.status) for r in payment.refunds),
        tuple((b.id, b.status) for b in payment.bookings),
    )
    session.rollback()
    return value
