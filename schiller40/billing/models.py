"""Subscriptions (a tier paid monthly) and their billed periods.

A ``Subscription`` is our record of a monthly fee for one tier, paid by a member (or, later,
a company for ``quantity`` seats). The gateway (Stripe Billing, or the simulation) holds the
remote subscription and its invoices; we mirror them here, forward-only, and decide the
consequences ourselves (membership, credit, dunning).

A ``BillingPeriod`` is one charge: the pro-rated first amount, or one month's renewal. It
carries the exact gross, net and tax in cents and the gateway's invoice and charge ids, so
every amount can be traced; invoices (a later issue) hang off these rows.

Dates (``starts_on``, periods, ``paid_through``, ``cancel_at``) are local calendar days
(Europe/Berlin), inclusive; instants are aware UTC.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.columns import enum_column
from ..core.time import UTCDateTime
from ..extensions import db

if TYPE_CHECKING:
    from ..accounts.models import Company, User
    from ..membership.models import Tier


def new_key() -> str:
    return uuid.uuid4().hex


class SubscriptionStatus(enum.StrEnum):
    INCOMPLETE = "incomplete"  # created; the checkout (payment method, first charge) is open
    ACTIVE = "active"  # paid up (or its first charge is still to come, when it starts later)
    PAST_DUE = "past_due"  # a charge failed; retries run; the membership still counts
    SUSPENDED = "suspended"  # unpaid past the grace: booking on the fee-less tier's terms
    ENDED = "ended"  # over (unpaid too long, or cancelled with notice); final
    CANCELLED = "cancelled"  # never started (the checkout was given up or ran out); final


# The subscriptions that hold their payer's one open place (the partial unique index).
OPEN_STATUSES = (
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.SUSPENDED,
)

# Where each status may go: forward only; ENDED and CANCELLED are final.
TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    SubscriptionStatus.INCOMPLETE: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELLED}
    ),
    SubscriptionStatus.ACTIVE: frozenset(
        {SubscriptionStatus.PAST_DUE, SubscriptionStatus.ENDED}
    ),
    SubscriptionStatus.PAST_DUE: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED, SubscriptionStatus.ENDED}
    ),
    SubscriptionStatus.SUSPENDED: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.ENDED}
    ),
    SubscriptionStatus.ENDED: frozenset(),
    SubscriptionStatus.CANCELLED: frozenset(),
}


class PaymentMethodKind(enum.StrEnum):
    CARD = "card"
    SEPA_DEBIT = "sepa_debit"


class PeriodKind(enum.StrEnum):
    FIRST = "first"  # from the start day to the end of its month (pro-rated), or a full month
    RENEWAL = "renewal"  # one whole month, charged on the 1st
    PRORATION = "proration"  # a change of tier or quantity within a period (later helper)


class PeriodStatus(enum.StrEnum):
    OPEN = "open"  # invoiced, not charged yet (or a charge is on its way: SEPA)
    PAID = "paid"  # final
    FAILED = "failed"  # the last attempt failed; retries may still make it PAID
    VOID = "void"  # written off (the subscription ended unpaid); final


PERIOD_TRANSITIONS: dict[PeriodStatus, frozenset[PeriodStatus]] = {
    PeriodStatus.OPEN: frozenset({PeriodStatus.PAID, PeriodStatus.FAILED, PeriodStatus.VOID}),
    PeriodStatus.FAILED: frozenset({PeriodStatus.PAID, PeriodStatus.VOID}),
    PeriodStatus.PAID: frozenset(),
    PeriodStatus.VOID: frozenset(),
}


class Subscription(db.Model):
    __tablename__ = "subscription"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("monthly_amount_cents >= 0", name="monthly_amount_nonnegative"),
        CheckConstraint(
            "user_id IS NOT NULL OR company_id IS NOT NULL OR status IN ('ended', 'cancelled')",
            name="has_payer",
        ),
        CheckConstraint(
            "current_period_end IS NULL OR current_period_end >= current_period_start",
            name="period_order",
        ),
        # At most one open subscription per payer: a double submit of the sign-up makes one.
        Index(
            "uq_subscription_open_user", "user_id", unique=True,
            sqlite_where=text("status IN ('incomplete', 'active', 'past_due', 'suspended')"),
            postgresql_where=text(
                "status IN ('incomplete', 'active', 'past_due', 'suspended')"
            ),
        ),
        Index(
            "uq_subscription_open_company", "company_id", unique=True,
            sqlite_where=text("status IN ('incomplete', 'active', 'past_due', 'suspended')"),
            postgresql_where=text(
                "status IN ('incomplete', 'active', 'past_due', 'suspended')"
            ),
        ),
        Index("ix_subscription_status_period", "status", "current_period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The payer: a member now; a company paying for ``quantity`` seats later.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("company.id", ondelete="SET NULL")
    )
    tier_id: Mapped[int] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[int] = mapped_column(default=1)
    # The tier's gross monthly price per seat when subscribed (a later change of the tier's
    # price does not silently change a running subscription).
    monthly_amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # "simulated" or "stripe": a subscription stays with the gateway that opened it.
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_column(SubscriptionStatus, "subscription_status"),
        default=SubscriptionStatus.INCOMPLETE,
    )
    # The gateway's references: its customer, its subscription, the sign-up checkout.
    customer_ref: Mapped[str | None] = mapped_column(String(255))
    gateway_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    # What the member chose on our page; the gateway's answer may change it (the checkout).
    payment_method: Mapped[PaymentMethodKind | None] = mapped_column(
        enum_column(PaymentMethodKind, "payment_method_kind")
    )
    # For people: "Visa •••• 4242", "DE89 •••• 3000".
    payment_method_label: Mapped[str | None] = mapped_column(String(64))
    # The SEPA mandate's reference (max. 35 characters), shown to the member and in the
    # pre-notification.
    mandate_reference: Mapped[str | None] = mapped_column(String(35))
    starts_on: Mapped[date]
    current_period_start: Mapped[date | None]
    current_period_end: Mapped[date | None]
    # The last day covered by paid periods (None: nothing paid yet). Included credit is
    # granted only up to here.
    paid_through: Mapped[date | None]
    # The last day of the subscription when notice was given (later helper).
    cancel_at: Mapped[date | None]
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The local day of the first failed charge not yet paid; the dunning timeline counts
    # from here.
    past_due_since: Mapped[date | None]
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The root of every idempotency key sent to the gateway for this subscription.
    idempotency_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_key)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    company: Mapped[Company | None] = relationship(foreign_keys=[company_id])
    tier: Mapped[Tier] = relationship()
    periods: Mapped[list[BillingPeriod]] = relationship(
        back_populates="subscription", order_by="BillingPeriod.period_start, BillingPeriod.id",
        cascade="all, delete-orphan",
    )

    def __repr__(self) -> str:
        return f"<Subscription {self.id} {self.status.value} tier={self.tier_id}>"

    # --- questions ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self.status]

    @property
    def gross_monthly_cents(self) -> int:
        return self.monthly_amount_cents * self.quantity

    def can_move_to(self, status: SubscriptionStatus) -> bool:
        return status is self.status or status in TRANSITIONS[self.status]

    def can_update_payment_method(self) -> bool:
        return self.status in (
            SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.SUSPENDED
        ) and self.gateway_subscription_id is not None

    def unpaid_periods(self) -> list[BillingPeriod]:
        return [p for p in self.periods if p.status in (PeriodStatus.OPEN, PeriodStatus.FAILED)]

    # --- state changes (forward only; the service audits them) --------------------------

    def move_to(self, status: SubscriptionStatus, *, now: datetime) -> bool:
        """Change the status if the move is allowed; False (nothing changed) otherwise, so a
        late or repeated sync never takes a subscription back."""
        if status is self.status or status not in TRANSITIONS[self.status]:
            return False
        self.status = status
        if status is SubscriptionStatus.SUSPENDED:
            self.suspended_at = now
        elif status is SubscriptionStatus.ACTIVE:
            self.past_due_since = None
            self.suspended_at = None
        elif status in (SubscriptionStatus.ENDED, SubscriptionStatus.CANCELLED):
            self.ended_at = now
        self.updated_at = now
        return True


class BillingPeriod(db.Model):
    """One billed period (one charge): what it covers, what it costs, how far it came."""

    __tablename__ = "billing_period"
    __table_args__ = (
        UniqueConstraint("subscription_id", "kind", "period_start"),
        CheckConstraint("amount_cents >= 0", name="amount_nonnegative"),
        CheckConstraint("net_cents + tax_cents = amount_cents", name="net_plus_tax"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        Index("ix_billing_period_status_retry", "status", "next_attempt_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscription.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[PeriodKind] = mapped_column(enum_column(PeriodKind, "billing_period_kind"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    # How the amount came about: unit price x quantity, pro-rated by days_billed/days_in_month.
    unit_amount_cents: Mapped[int]
    quantity: Mapped[int] = mapped_column(default=1)
    days_billed: Mapped[int]
    days_in_month: Mapped[int]
    amount_cents: Mapped[int]  # gross
    net_cents: Mapped[int]
    tax_cents: Mapped[int]
    vat_percent: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[PeriodStatus] = mapped_column(
        enum_column(PeriodStatus, "billing_period_status"), default=PeriodStatus.OPEN
    )
    # The local day it is (or was) due: the start day or the 1st.
    due_on: Mapped[date]
    gateway_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    gateway_charge_id: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The local day of the next retry we ask the gateway for (None: none planned).
    next_attempt_on: Mapped[date | None]
    failure_message: Mapped[str | None] = mapped_column(String(500))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_key)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    subscription: Mapped[Subscription] = relationship(back_populates="periods")

    def __repr__(self) -> str:
        return (f"<BillingPeriod {self.id} {self.kind.value} {self.period_start} "
                f"{self.status.value} {self.amount_cents}>")

    def move_to(self, status: PeriodStatus, *, now: datetime) -> bool:
        if status is self.status or status not in PERIOD_TRANSITIONS[self.status]:
            return False
        self.status = status
        if status is PeriodStatus.PAID:
            self.paid_at = now
            self.next_attempt_on = None
            self.failure_message = None
        elif status is PeriodStatus.VOID:
            self.next_attempt_on = None
        self.updated_at = now
        return True
