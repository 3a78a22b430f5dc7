"""The one interface through which money moves, whoever carries it (Stripe or the simulation).

Services speak only to ``PaymentGateway``; neither implementation's types leak past it. What
comes back is a plain snapshot of the gateway's state (``Checkout``), which the service maps
onto our records with the forward-only rules in ``states.py``. Every call that changes
something takes an idempotency key, so a retry after a timeout never charges, captures or
refunds twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


class GatewayError(Exception):
    """The gateway could not do what was asked."""


class GatewayUnavailable(GatewayError):
    """Not reachable, timed out, or answered with a server error: try again later."""


class GatewayRefused(GatewayError):
    """The gateway understood and said no (for example: nothing left to refund)."""


class GatewayNotFound(GatewayRefused):
    """The gateway does not know the object asked for (Stripe's 404): deleted, of another
    account or mode, or never there. Asking again will not change that."""


class IntentStatus(enum.StrEnum):
    """Stripe's PaymentIntent statuses, which the simulation uses too."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"
    SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class LineItem:
    name: str
    description: str
    amount_cents: int  # gross, VAT included


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: int
    # client_reference_id: the booking id (the first one, for a series).
    reference: str
    booking_ids: tuple[int, ...]
    customer_email: str | None
    items: tuple[LineItem, ...]
    currency: str
    manual_capture: bool
    expires_at: datetime
    success_url: str
    cancel_url: str
    idempotency_key: str
    locale: str = "de"


@dataclass(frozen=True)
class RemoteRefund:
    id: str
    amount_cents: int
    status: str  # succeeded | pending | failed | canceled | requires_action
    # Our refund id, when we made it (carried in the refund's metadata).
    local_id: int | None = None


@dataclass(frozen=True)
class Intent:
    id: str
    status: IntentStatus
    amount_cents: int
    received_cents: int
    refunded_cents: int = 0
    refunds: tuple[RemoteRefund, ...] = ()


@dataclass(frozen=True)
class Checkout:
    id: str
    status: str  # open | complete | expired
    url: str | None
    expires_at: datetime
    manual_capture: bool
    intent: Intent | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def payment_id(self) -> int | None:
        raw = self.metadata.get("payment_id", "")
        return int(raw) if raw.isdigit() else None


class PaymentGateway(Protocol):
    """What a gateway must do. ``name`` is stored on each payment (``Payment.provider``)."""

    name: str
    # The shortest life a checkout may have (Stripe: 30 minutes from its creation).
    min_checkout_lifetime: timedelta

    def create_checkout(self, request: CheckoutRequest, *, now: datetime) -> Checkout: ...

    def get_checkout(self, checkout_id: str, *, now: datetime) -> Checkout: ...

    def expire_checkout(self, checkout_id: str, *, now: datetime) -> Checkout: ...

    def find_checkouts(self, payment_id: int, *, since: datetime) -> list[Checkout]:
        """The checkouts opened for one of our payments since ``since``, found by the
        payment id in their metadata: for a create whose answer never reached us."""
        ...

    def capture(self, intent_id: str, *, amount_cents: int, idempotency_key: str) -> None: ...

    def cancel_authorization(self, intent_id: str, *, idempotency_key: str) -> None: ...

    def refund(
        self, intent_id: str, *, amount_cents: int, idempotency_key: str, local_id: int
    ) -> RemoteRefund: ...

    def intent_of_charge(self, charge_id: str) -> str | None: ...
