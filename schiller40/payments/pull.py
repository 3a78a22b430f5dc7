"""Pull: learn what the gateway knows about a payment, then push what follows.

The gateway is asked afresh every time, never trusting a webhook's payload: a forged, stale
or reordered event can only make us look, not believe. What is learned is applied in one
locked transaction (``apply.apply_checkout``); no transaction is open while the gateway is
asked.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..booking.settings import BookingSettings
from ..core import audit
from ..core.locking import end_read, write
from ..errors import NotFound
from .apply import apply_checkout, release
from .gateway import Checkout, GatewayNotFound, PaymentGateway
from .locks import lock_payment
from .models import Payment, Refund, WebhookEvent
from .push import push

log = logging.getLogger(__name__)


def refresh(
    session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime,
    settings: BookingSettings, strict: bool = False,
) -> Payment:
    """Fetch the payment's checkout and apply it; then push what follows (``strict``: see
    ``push``)."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound()
    if not payment.through_gateway:
        # Taken at the desk or billed on invoice: nothing at any gateway to learn or do.
        return payment
    checkout_id = payment.checkout_id
    end_read(session)
    if checkout_id is not None:
        checkout = gateway.get_checkout(checkout_id, now=now)
        apply_checkout(session, payment_id, checkout, now=now, settings=settings)
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
    created_at = payment.created_at
    abandoned = payment.may_have_stray_checkout(now)
    end_read(session)
    if not abandoned:
        return
    for found in gateway.find_checkouts(payment_id, since=created_at - CLOCK_SKEW):
        if found.status == "open":
            log.warning("payment %s: expiring checkout %s, opened after we gave up on it",
                        payment_id, found.id)
            checkout = gateway.expire_checkout(found.id, now=now)
        else:  # paid after all (money to give back) or expired: the full picture
            checkout = gateway.get_checkout(found.id, now=now)
        apply_checkout(session, payment_id, checkout, now=now, settings=settings)


def _close_unopened(
    session: Session, payment_id: int, *, now: datetime, settings: BookingSettings
) -> None:
    """A payment whose checkout was never opened (the process died between the booking's
    commit and the gateway call) ends when its holds have run out: nobody can pay it."""
    with write(session):
        payment = lock_payment(session, payment_id)
        if payment.checkout_never_opened(now):
            payment.expire_unopened(now)
            audit.record(
                session, action="payment.expired", now=now, actor_id=None,
                object_type="payment", object_id=payment.id,
                details={"from": "pending", "reason": "checkout_never_opened"},
            )
            release(session, payment, now=now, settings=settings, why="expired")


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
    end_read(session)  # no transaction open while the gateway is asked below
    if seen:
        return "duplicate"
    try:
        checkout = _checkout_of_event(session, gateway, event_type, object_id, now=now)
    except GatewayNotFound as exc:
        # Deleted, of another account or mode, or never there: no retry changes that, and
        # a 503 made Stripe retry for three days. Nothing of ours, like the cases below.
        end_read(session)
        log.warning("webhook %s (%s): the gateway does not know %s: ignored (%s)",
                    event_id, event_type, object_id, exc)
        checkout = None
    payment_id = _payment_for(session, checkout)
    if checkout is None or payment_id is None:
        # Not ours (another integration on the same Stripe account) or not a type we use:
        # remember it, so a replay is answered without fetching anything.
        return remember_event(session, gateway, event_id, event_type, object_id, now=now)
    event = WebhookEvent(
        id=event_id, provider=gateway.name, type=event_type, object_id=object_id,
        payment_id=payment_id, received_at=now,
    )
    if not apply_checkout(session, payment_id, checkout, now=now, settings=settings,
                          event=event):
        return "duplicate"
    push(session, gateway, payment_id=payment_id, now=now, settings=settings)
    return "handled"


def remember_event(
    session: Session, gateway: PaymentGateway, event_id: str, event_type: str, object_id: str,
    *, now: datetime,
) -> str:
    """Record an event that is nothing of ours: "ignored", or "duplicate" if another
    process recorded it meanwhile."""
    try:
        with write(session):
            session.add(WebhookEvent(
                id=event_id, provider=gateway.name, type=event_type, object_id=object_id,
                received_at=now,
            ))
    except IntegrityError:  # the block has rolled back
        return "duplicate"
    return "ignored"


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
    end_read(session)  # no transaction open while the gateway is asked
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
        if row is not None and row.through_gateway and row.checkout_id in (None, checkout.id):
            found = row.id
    end_read(session)
    return found
