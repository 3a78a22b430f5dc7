"""Push: make the gateway match what we decided, then learn the result.

Expire a checkout nobody may pay any more, capture an approved authorisation, give back one
that is not wanted, send recorded refunds. What is due is read from our records
(``Payment.needs_*``); every call carries an idempotency key derived from them, so a retry
never charges, captures or refunds twice. No transaction is open during a gateway call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from ..booking.settings import BookingSettings
from ..core import audit
from ..core.locking import end_read, lock_rows, write
from ..errors import NotFound
from .apply import announce_refund, apply_checkout
from .gateway import GatewayError, GatewayRefused, PaymentGateway
from .models import Payment, Refund

log = logging.getLogger(__name__)


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
        end_read(session)
        if not actions:
            break
        try:
            for action in actions:
                action(session, gateway, payment_id=payment_id, now=now)
            if checkout_id:
                checkout = gateway.get_checkout(checkout_id, now=now)
                apply_checkout(session, payment_id, checkout, now=now, settings=settings)
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


Action = Callable[..., None]


def _due(payment: Payment, now: datetime) -> list[Action]:
    actions: list[Action] = []
    if payment.needs_checkout_expired(now):
        actions.append(_expire)
    if payment.needs_authorization_released(now):
        actions.append(_cancel_authorization)
    if payment.needs_capture(now):
        actions.append(_capture)
    if payment.needs_refunds_sent:
        actions.append(_send_refunds)
    return actions


def _expire(session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime) -> None:
    payment = session.get(Payment, payment_id)
    assert payment is not None and payment.checkout_id is not None
    checkout_id = payment.checkout_id
    end_read(session)
    gateway.expire_checkout(checkout_id, now=now)


def _capture(session: Session, gateway: PaymentGateway, *, payment_id: int, now: datetime) -> None:
    payment = session.get(Payment, payment_id)
    assert payment is not None and payment.payment_intent_id is not None
    amount = payment.capture_cents(now)
    intent_id, key = payment.payment_intent_id, payment.idempotency_key
    end_read(session)
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
    end_read(session)
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
    pending = [(r.id, r.amount_cents, r.idempotency_key) for r in payment.refunds if r.is_unsent]
    end_read(session)
    for refund_id, amount, key in pending:
        try:
            remote = gateway.refund(
                intent_id, amount_cents=amount, idempotency_key=key, local_id=refund_id
            )
        except GatewayRefused as exc:
            _refund_failed(session, payment_id, refund_id, str(exc), now=now)
            continue
        with write(session):
            lock_rows(session, Payment, [payment_id])
            refund = session.get(Refund, refund_id)
            assert refund is not None
            refund.provider_refund_id = remote.id
            if remote.status == "succeeded" and refund.is_pending:
                _refund_succeeded(session, payment_id, refund, amount, now=now)


def _refund_succeeded(
    session: Session, payment_id: int, refund: Refund, amount: int, *, now: datetime
) -> None:
    refund.succeed(now)
    owner = session.get(Payment, payment_id)
    assert owner is not None
    owner.count_refund(amount)
    audit.record(
        session, action="refund.succeeded", now=now, actor_id=None,
        object_type="payment", object_id=payment_id,
        details={"refund_id": refund.id, "amount_cents": amount,
                 "reason": refund.reason.value},
    )
    announce_refund(session, owner, refund, now=now)


def _refund_failed(
    session: Session, payment_id: int, refund_id: int, message: str, *, now: datetime
) -> None:
    log.error("refund %s of payment %s refused by the gateway: %s", refund_id, payment_id,
              message)
    with write(session):
        lock_rows(session, Payment, [payment_id])
        refund = session.get(Refund, refund_id)
        if refund is not None and refund.is_pending:
            refund.fail(message, now)
            audit.record(
                session, action="refund.failed", now=now, actor_id=None,
                object_type="payment", object_id=payment_id,
                details={"refund_id": refund_id, "message": message[:200]},
            )
