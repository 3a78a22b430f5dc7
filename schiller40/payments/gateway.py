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
from datetime import date, datetime, timedelta
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


# --- subscriptions (monthly fees; Stripe Billing's semantics) ------------------------------


@dataclass(frozen=True)
class SubscriptionCheckoutRequest:
    """Open a checkout that collects a payment method (card, or SEPA direct debit with a
    mandate) and starts a monthly subscription.

    Stripe: a Checkout Session in ``mode=subscription`` with one recurring price of
    ``unit_amount_cents`` x ``quantity`` a month, ``subscription_data.billing_cycle_anchor``
    = the 1st after ``starts_on`` (renewals on the 1st), ``proration_behavior=none`` and, for
    a start today, the pro-rated ``first_amount_cents`` as a one-off invoice item on the
    first invoice (our day-based amount, not Stripe's second-based one, so every cent is
    ours to explain); for a start on the 1st of next month, ``trial_end`` = that day (the
    method and mandate are collected now, the first charge comes on the 1st).
    ``metadata`` carries our subscription id (``subscription_id``) so ``find_subscriptions``
    finds a subscription whose create answer never reached us.
    """

    subscription_id: int
    customer_email: str | None
    customer_ref: str | None  # a gateway customer of an earlier subscription, if any
    product_name: str
    unit_amount_cents: int  # gross per seat and month
    quantity: int
    currency: str
    starts_on: date  # local date: today or the 1st of next month
    first_period_end: date  # the last day of the first period (end of starts_on's month)
    first_amount_cents: int  # gross, for starts_on..first_period_end (pro-rated or full)
    payment_method: str  # "card" | "sepa_debit": what the member chose on our page
    success_url: str  # may contain {CHECKOUT_SESSION_ID}
    cancel_url: str
    idempotency_key: str
    expires_at: datetime
    locale: str = "de"
    # Stripe: the tier's own Product and monthly Price (``tier_id``), and the member's one
    # Customer, found again by ``user_id`` in its metadata. Without them Stripe gets an
    # ad-hoc price and a new customer.
    tier_id: int | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class SetupCheckoutRequest:
    """Open a checkout that replaces a subscription's payment method (Stripe: a Checkout
    Session in ``mode=setup`` whose SetupIntent becomes the subscription's
    ``default_payment_method``). After it completes the caller asks the gateway to retry
    the open invoices (``pay_invoice``)."""

    subscription_id: int
    gateway_subscription_id: str
    payment_method: str  # "card" | "sepa_debit"
    success_url: str
    cancel_url: str
    idempotency_key: str
    expires_at: datetime
    locale: str = "de"


@dataclass(frozen=True)
class RemoteInvoice:
    """One invoice of a subscription (Stripe: an Invoice with its PaymentIntent/charge)."""

    id: str
    # draft | open | paid | uncollectible | void (Stripe's invoice statuses)
    status: str
    amount_cents: int  # gross, due
    amount_paid_cents: int
    period_start: date  # local dates, inclusive
    period_end: date
    # "subscription_create" (the first) or "subscription_cycle" (a renewal) or
    # "subscription_update" (a proration): Stripe's billing_reason.
    billing_reason: str
    attempt_count: int
    charge_id: str | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class RemoteSubscription:
    id: str
    # Stripe's statuses: incomplete | incomplete_expired | trialing | active | past_due |
    # unpaid | canceled | paused
    status: str
    customer_ref: str
    current_period_start: date
    current_period_end: date  # inclusive (Stripe's end instant minus one day, local)
    payment_method: str  # card | sepa_debit
    payment_method_label: str  # "Visa •••• 4242", "DE89 •••• 3000"
    mandate_reference: str | None
    unit_amount_cents: int
    quantity: int
    cancel_at: date | None = None
    invoices: tuple[RemoteInvoice, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def local_id(self) -> int | None:
        raw = self.metadata.get("subscription_id", "")
        return int(raw) if raw.isdigit() else None


@dataclass(frozen=True)
class SubscriptionCheckout:
    """A sign-up or payment-method checkout; ``subscription`` once it is complete."""

    id: str
    status: str  # open | complete | expired
    url: str | None
    expires_at: datetime
    mode: str  # "subscription" | "setup"
    subscription: RemoteSubscription | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class SubscriptionGateway(Protocol):
    """The subscription calls (issue 19). Part of every ``PaymentGateway``; a gateway that
    cannot do them yet raises ``GatewayUnsupported``."""

    def create_subscription_checkout(
        self, request: SubscriptionCheckoutRequest, *, now: datetime
    ) -> SubscriptionCheckout: ...

    def create_setup_checkout(
        self, request: SetupCheckoutRequest, *, now: datetime
    ) -> SubscriptionCheckout: ...

    def get_subscription_checkout(
        self, checkout_id: str, *, now: datetime
    ) -> SubscriptionCheckout: ...

    def expire_subscription_checkout(
        self, checkout_id: str, *, now: datetime
    ) -> SubscriptionCheckout: ...

    def get_subscription(self, subscription_ref: str, *, now: datetime) -> RemoteSubscription:
        """The subscription with all its invoices (Stripe: expand ``latest_invoice`` and
        list ``/v1/invoices?subscription=``)."""
        ...

    def find_subscriptions(self, subscription_id: int, *, since: datetime) -> list[
        RemoteSubscription
    ]:
        """Subscriptions made for our ``subscription_id`` (metadata) since ``since``: for a
        checkout or create whose answer never reached us (Stripe: search by metadata)."""
        ...

    def pay_invoice(
        self, invoice_ref: str, *, idempotency_key: str, now: datetime
    ) -> RemoteInvoice:
        """Try to collect an open invoice now (Stripe: ``POST /v1/invoices/{id}/pay``). A
        refused charge is not an error: the invoice comes back still open, with
        ``last_error``."""
        ...

    def change_subscription(
        self, subscription_ref: str, *, unit_amount_cents: int, quantity: int,
        proration_date: date, idempotency_key: str, now: datetime,
        tier_id: int | None = None, product_name: str | None = None,
    ) -> RemoteSubscription:
        """New price or seat count from ``proration_date`` (Stripe: update the item with
        ``proration_behavior=always_invoice``, ``proration_date``): the difference for the
        rest of the period becomes an invoice (billing_reason ``subscription_update``).
        ``tier_id``/``product_name`` name the tier changed to, so Stripe moves the item to
        that tier's product and price (the simulation needs only the amount)."""
        ...

    def cancel_subscription(
        self, subscription_ref: str, *, at: date | None, idempotency_key: str, now: datetime,
    ) -> RemoteSubscription:
        """End it after the local day ``at`` (Stripe: ``cancel_at`` = the next midnight);
        ``at=None``: now (Stripe: ``DELETE /v1/subscriptions/{id}``, open invoices voided)."""
        ...

    def resume_subscription(
        self, subscription_ref: str, *, idempotency_key: str, now: datetime,
    ) -> RemoteSubscription:
        """Take back a cancellation at a future date (Stripe: update with
        ``cancel_at=""``): the subscription renews as before."""
        ...

    def run_billing(self, *, now: datetime) -> int:
        """Let the gateway bill what is due at ``now``. Stripe bills on its own (does
        nothing here, returns 0); the simulation creates and charges the renewal invoices
        on the 1st, driven by the worker's clock. Returns the invoices made."""
        ...


class GatewayUnsupported(GatewayError):
    """This gateway does not implement the call (yet)."""


class PaymentGateway(SubscriptionGateway, Protocol):
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
