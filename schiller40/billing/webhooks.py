"""Gateway events about subscriptions: each one only says "look again".

The webhook view (``payments/webhooks.py``) verifies the signature and hands every event to
``handle_event`` first. The payload is a hint at most (which of our subscriptions to look
at); what we believe is re-fetched from the gateway by ``service.sync`` and
``service.refresh_checkout``, which only ever move forward. So a replayed, stale, forged
(with a valid signature, from another integration) or reordered event changes nothing that
the gateway does not say now. The event id is recorded afterwards: a replay is answered
"duplicate" without asking anything, and a crash before the record only means the gateway's
retry syncs once more, which finds nothing to change.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.locking import end_read, locked_get, write
from ..payments.gateway import GatewayNotFound, PaymentGateway
from ..payments.models import WebhookEvent
from ..payments.pull import remember_event
from ..payments.webhooks import add_handler
from . import service
from .models import OPEN_STATUSES, BillingPeriod, Subscription, SubscriptionStatus
from .settings import BillingSettings, current_billing

log = logging.getLogger(__name__)

# The events a Stripe endpoint sends for subscriptions (docs/payments.md lists them).
PREFIXES = ("invoice.", "customer.subscription.", "mandate.")
CHECKOUT_MODES = ("subscription", "setup")


@runtime_checkable
class MandateLookup(Protocol):
    """A gateway that can say whose a SEPA mandate is (Stripe)."""

    def subscription_of_mandate(self, mandate_id: str) -> tuple[str | None, str | None]:
        """The customer reference and the mandate reference."""
        ...


def init_app(app: Flask) -> None:
    add_handler(app, _handler)


def _handler(session: Session, gateway: PaymentGateway, *, event_id: str, event_type: str,
             object_id: str, obj: dict[str, Any], now: datetime) -> str | None:
    return handle_event(session, gateway, event_id=event_id, event_type=event_type,
                        object_id=object_id, obj=obj, now=now, settings=current_billing())


def is_subscription_event(event_type: str, obj: dict[str, Any]) -> bool:
    if event_type.startswith(PREFIXES):
        return True
    return event_type.startswith("checkout.session.") and obj.get("mode") in CHECKOUT_MODES


def handle_event(
    session: Session, gateway: PaymentGateway, *, event_id: str, event_type: str,
    object_id: str, obj: dict[str, Any], now: datetime, settings: BillingSettings,
) -> str | None:
    """"handled", "duplicate" or "ignored" for a subscription event; None for any other
    (the payments' handler takes it)."""
    if not is_subscription_event(event_type, obj):
        return None
    seen = session.get(WebhookEvent, event_id) is not None
    end_read(session)
    if seen:
        return "duplicate"
    try:
        found = _subscription_for(session, gateway, event_type, object_id, obj, now=now)
        if found is not None:
            _look_again(session, gateway, found, event_type, object_id, now=now,
                        settings=settings)
    except GatewayNotFound as exc:
        end_read(session)
        log.warning("webhook %s (%s): the gateway does not know %s: ignored (%s)",
                    event_id, event_type, object_id, exc)
        found = None
    if found is None:
        log.info("webhook %s (%s) about %s: no subscription of ours, ignored",
                 event_id, event_type, object_id)
        return remember_event(session, gateway, event_id, event_type, object_id, now=now)
    try:
        with write(session):
            session.add(WebhookEvent(
                id=event_id, provider=gateway.name, type=event_type, object_id=object_id,
                received_at=now,
            ))
    except IntegrityError:  # another delivery of it got here first; our sync changed nothing
        return "duplicate"
    return "handled"


def _hint(obj: dict[str, Any], *path: str) -> str | None:
    node: Any = obj
    for name in path:
        node = node.get(name) if isinstance(node, dict) else None
    return node if isinstance(node, str) and 0 < len(node) <= 255 else None


def _by_local_id(session: Session, raw: str | None) -> int | None:
    if raw is None or not raw.isdigit():
        return None
    return session.scalar(select(Subscription.id).where(Subscription.id == int(raw)))


def _subscription_for(
    session: Session, gateway: PaymentGateway, event_type: str, object_id: str,
    obj: dict[str, Any], *, now: datetime,
) -> int | None:
    """Which of our subscriptions an event may be about: by the references we stored, else
    by our id in the object's metadata (a sign-up whose checkout answer or completion we
    never learned). Raises ``GatewayNotFound`` for an object the gateway does not know."""
    if not object_id:
        return None
    found: int | None = None
    if event_type.startswith("checkout.session."):
        found = session.scalar(select(Subscription.id).where(
            Subscription.checkout_id == object_id))
        if found is None:
            end_read(session)
            checkout = gateway.get_subscription_checkout(object_id, now=now)  # not the payload
            found = _by_local_id(session, checkout.metadata.get("subscription_id"))
            if found is not None and checkout.mode == "subscription":
                _adopt_checkout(session, found, checkout.id, now=now)
    elif event_type.startswith("invoice."):
        found = session.scalar(select(BillingPeriod.subscription_id).where(
            BillingPeriod.gateway_invoice_id == object_id))
        # (API versions before 2025-03 name it at the top: ``invoice.subscription``)
        remote = (_hint(obj, "parent", "subscription_details", "subscription")
                  or _hint(obj, "subscription"))
        if found is None and remote is not None:
            found = session.scalar(select(Subscription.id).where(
                Subscription.gateway_subscription_id == remote))
        if found is None:
            found = _by_local_id(
                session, _hint(obj, "parent", "subscription_details", "metadata",
                               "subscription_id"))
    elif event_type.startswith("customer.subscription."):
        found = session.scalar(select(Subscription.id).where(
            Subscription.gateway_subscription_id == object_id))
        if found is None:
            found = _by_local_id(session, _hint(obj, "metadata", "subscription_id"))
    elif event_type.startswith("mandate.") and isinstance(gateway, MandateLookup):
        end_read(session)
        customer, reference = gateway.subscription_of_mandate(object_id)
        mine = select(Subscription.id).where(
            Subscription.provider == gateway.name, Subscription.status.in_(OPEN_STATUSES),
        ).order_by(Subscription.id.desc()).limit(1)
        if customer is not None:
            found = session.scalar(mine.where(Subscription.customer_ref == customer))
        if found is None and reference is not None:  # the method was detached
            found = session.scalar(mine.where(Subscription.mandate_reference == reference))
    end_read(session)
    return found


def _adopt_checkout(session: Session, subscription_id: int, checkout_id: str, *,
                    now: datetime) -> None:
    """A sign-up checkout whose id never reached us (the create answer was lost): it is the
    subscription's, if the subscription is still waiting for one."""
    with write(session):
        sub = locked_get(session, Subscription, subscription_id)
        if sub.status is SubscriptionStatus.INCOMPLETE and sub.checkout_id is None:
            sub.checkout_id = checkout_id
            sub.updated_at = now


def _look_again(
    session: Session, gateway: PaymentGateway, subscription_id: int, event_type: str,
    object_id: str, *, now: datetime, settings: BillingSettings,
) -> None:
    sub = session.get(Subscription, subscription_id)
    assert sub is not None
    status, user, checkout_id, is_open = sub.status, sub.user, sub.checkout_id, sub.is_open
    end_read(session)
    if event_type == "checkout.session.completed" and object_id != checkout_id:
        # A payment-method checkout: the method is replaced and the unpaid months charged.
        checkout = gateway.get_subscription_checkout(object_id, now=now)
        if checkout.mode == "setup" and is_open and user is not None:
            service.finish_method_update(session, gateway, member=user,
                                         checkout_id=object_id, now=now, settings=settings)
        elif checkout.mode == "subscription" and checkout.subscription is not None:
            _stray_subscription(session, gateway, subscription_id, checkout, now=now)
        return
    if status is SubscriptionStatus.INCOMPLETE and checkout_id is not None:
        service.refresh_checkout(session, gateway, subscription_id=subscription_id, now=now,
                                 settings=settings)
    else:
        service.sync(session, gateway, subscription_id=subscription_id, now=now,
                     settings=settings)


def _stray_subscription(session: Session, gateway: PaymentGateway, subscription_id: int,
                        checkout: Any, *, now: datetime) -> None:
    """A sign-up checkout we had given up on (replaced by another) was paid after all: its
    remote subscription must not bill on. Cancelled now; the first charge is for staff to
    refund (logged)."""
    remote = checkout.subscription
    if remote.status in ("canceled", "incomplete_expired"):
        return
    log.error("subscription %s: checkout %s was completed after it was replaced; cancelling "
              "the gateway subscription %s (refund its first invoice by hand)",
              subscription_id, checkout.id, remote.id)
    gateway.cancel_subscription(remote.id, at=None, idempotency_key=f"stray-{checkout.id}",
                                now=now)
