"""Payments, refunds and the webhook events already handled.

A ``Payment`` is our record of one checkout: what is owed for one or more held bookings (a
series is paid in one go), which checkout the gateway opened for it, and how far the money
has come. Its ``status`` only ever moves forward (see ``states.py``): a late, duplicated or
reordered webhook can never take a paid booking back to "pending".

Money is integer cents, EUR, gross. The gateway's own figures (received, refunded) are copied
here on every sync so staff pages and reconciliation read one place.

State changes and the questions asked before them (``awaits_payment``, ``needs_capture``,
``learn``, ``fail``, ...) are methods here, as on ``Booking``: the services in this package
orchestrate (locks, gateway calls, audit, mails), pages and the API ask.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..booking.models import BookingStatus
from ..core.audit import JSONType
from ..core.columns import enum_column
from ..core.time import UTCDateTime
from ..extensions import db

# PaymentStatus is defined beside its order in states.py (which imports no models), so the
# methods below can use ``advance``; it is used here for the column.
from .states import OPEN_STATUSES, PaymentStatus, advance

if TYPE_CHECKING:
    from ..accounts.models import Company, User
    from ..booking.models import Booking


def new_key() -> str:
    return uuid.uuid4().hex


class CaptureMethod(enum.StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"  # authorise now, capture when staff approve


class PaymentMethod(enum.StrEnum):
    """How the money comes in. Only ``online`` goes through the gateway (checkout, webhooks,
    reconciliation); the others are recorded by staff and never reach it."""

    ONLINE = "online"  # the member pays at the gateway's checkout
    DESK_CASH = "desk_cash"  # paid in cash at the front desk
    DESK_CARD = "desk_card"  # paid with the card terminal at the front desk
    INVOICE = "invoice"  # billed: open until staff record the bank transfer


# Paid on the spot at the front desk: the payment is paid the moment it is recorded.
DESK_METHODS = (PaymentMethod.DESK_CASH, PaymentMethod.DESK_CARD)
# The provider of payments that never reach a gateway (``Payment.provider``).
DESK_PROVIDER = "desk"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # decided and recorded; the gateway call has not succeeded yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the gateway refused it for good; staff must look


class RefundReason(enum.StrEnum):
    CANCELLATION = "cancellation"  # by the refund policy when a paid booking is cancelled
    LATE_PAYMENT = "late_payment"  # money for a hold that had already been released
    STAFF = "staff"  # by hand, from the staff page or API
    EXTERNAL = "external"  # made in the Stripe dashboard; recorded when we see it


class Payment(db.Model):
    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("received_cents >= 0", name="received_nonnegative"),
        CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= received_cents",
            name="refunded_within_received",
        ),
        Index("ix_payment_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    # "stripe" or "simulated": a payment stays with the gateway that opened it.
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[PaymentStatus] = mapped_column(
        enum_column(PaymentStatus, "payment_status"), default=PaymentStatus.PENDING
    )
    capture_method: Mapped[CaptureMethod] = mapped_column(
        enum_column(CaptureMethod, "capture_method"), default=CaptureMethod.AUTOMATIC
    )
    amount_cents: Mapped[int]
    net_cents: Mapped[int]
    tax_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # The root of every idempotency key sent to the gateway for this payment, so a retried
    # request (ours, or the SDK's) never opens a second checkout or captures twice.
    idempotency_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_key)
    checkout_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    checkout_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    received_cents: Mapped[int] = mapped_column(default=0)
    refunded_cents: Mapped[int] = mapped_column(default=0)
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    # Staff approved the booking: capture is due (and is retried until it succeeds).
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # How the money comes in, and who recorded it (the staff member at the desk; None for
    # a member's own online payment).
    method: Mapped[PaymentMethod] = mapped_column(
        enum_column(PaymentMethod, "payment_method"), default=PaymentMethod.ONLINE
    )
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    # Billed to the member's company rather than to the member (a manual charge, or a
    # booking on the company's invoice); ``user_id`` still names the member it was for.
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("company.id", ondelete="SET NULL"), index=True
    )
    # When the money arrived outside the gateway (at the desk, or the bank transfer staff
    # recorded), who recorded that, and the transfer's reference.
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    transfer_reference: Mapped[str] = mapped_column(String(140), default="")

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])
    settled_by: Mapped[User | None] = relationship(foreign_keys=[settled_by_id])
    company: Mapped[Company | None] = relationship()
    charges: Mapped[list[ManualCharge]] = relationship(
        back_populates="payment", order_by="ManualCharge.id"
    )
    bookings: Mapped[list[Booking]] = relationship(
        back_populates="payment", order_by="Booking.starts_at"
    )
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="payment", order_by="Refund.id"
    )

    def __repr__(self) -> str:
        return f"<Payment {self.id} {self.provider} {self.status.value} {self.amount_cents}>"

    # --- questions ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Still waiting for the member or the gateway: reconciliation looks at these."""
        return self.status in OPEN_STATUSES

    @property
    def is_pending(self) -> bool:
        """Nothing paid yet and nothing given up: a checkout may (still) be opened."""
        return self.status is PaymentStatus.PENDING

    @property
    def through_gateway(self) -> bool:
        """Paid at a checkout: the only payments the gateway, webhooks and reconciliation
        ever see."""
        return self.method is PaymentMethod.ONLINE

    @property
    def owes_transfer(self) -> bool:
        """An open amount: billed on invoice and no transfer recorded yet."""
        return self.method is PaymentMethod.INVOICE and self.status is PaymentStatus.PENDING

    @property
    def captures_on_approval(self) -> bool:
        """Authorised at the checkout, charged only when staff approve (a studio booking)."""
        return self.capture_method is CaptureMethod.MANUAL

    def held_bookings(self, now: datetime) -> list[Booking]:
        """Its bookings still held at ``now`` (a hold whose time ran out unwritten is not)."""
        return [b for b in self.bookings if b.effective_status(now) is BookingStatus.HELD]

    def active_bookings(self, now: datetime) -> list[Booking]:
        """Its bookings that still occupy their slot at ``now``: held or confirmed."""
        return [
            b for b in self.bookings
            if b.effective_status(now) in (BookingStatus.HELD, BookingStatus.CONFIRMED)
        ]

    def awaits_payment(self, now: datetime, booking: Booking | None = None) -> bool:
        """Whether the member may pay now: pending, and ``booking`` (or, without one, any
        booking it pays for) still held. ``checkout.start_checkout`` refuses the others; the
        booking page asks this before offering "Pay now"."""
        if not self.is_pending or not self.through_gateway:
            return False
        if booking is None:
            return bool(self.held_bookings(now))
        return booking.effective_status(now) is BookingStatus.HELD

    def awaits_approval(self, booking: Booking, now: datetime) -> bool:
        """Whether staff may approve or reject ``booking`` now: the card is authorised and
        the booking still held. ``approval.approve``/``reject`` refuse the others."""
        return (
            self.status is PaymentStatus.AUTHORIZED
            and booking.effective_status(now) is BookingStatus.HELD
        )

    def checkout_never_opened(self, now: datetime) -> bool:
        """Pending without a checkout, and nothing left to pay for: the process died between
        the booking's commit and the gateway call, and the holds have run out since."""
        return (
            self.through_gateway and self.is_pending and self.checkout_id is None
            and not self.active_bookings(now)
        )

    def may_have_stray_checkout(self, now: datetime) -> bool:
        """Given up on (failed or expired) without ever learning a checkout id, while the
        checkout we asked for would still be open: the gateway may have opened it after all
        (a create that timed out at our end), and somebody could still pay for it."""
        return (
            self.status in (PaymentStatus.FAILED, PaymentStatus.EXPIRED)
            and self.checkout_id is None
            and self.checkout_expires_at is not None
            and self.checkout_expires_at > now
        )

    # What our records say is due at the gateway (``push``): each a question on its own, so
    # every caller asks the same one.

    def needs_checkout_expired(self, now: datetime) -> bool:
        """An open checkout nobody may pay any more: every booking it was for is gone."""
        return self.is_pending and bool(self.checkout_id) and not self.active_bookings(now)

    def needs_authorization_released(self, now: datetime) -> bool:
        """An authorisation for bookings that are all gone (rejected, cancelled, run out)."""
        return self.status is PaymentStatus.AUTHORIZED and not self.active_bookings(now)

    def needs_capture(self, now: datetime) -> bool:
        """Staff approved, and some booking is still there to be charged for."""
        return (
            self.status is PaymentStatus.AUTHORIZED
            and self.approved_at is not None
            and bool(self.active_bookings(now))
        )

    @property
    def needs_refunds_sent(self) -> bool:
        """Refunds recorded that the gateway has not accepted yet (and money to take them
        from: a payment intent)."""
        return bool(self.payment_intent_id) and any(r.is_unsent for r in self.refunds)

    # --- money --------------------------------------------------------------------------

    @property
    def refundable_cents(self) -> int:
        """Money received that is neither refunded nor promised back by a pending refund."""
        promised = sum(r.amount_cents for r in self.refunds if r.status is RefundStatus.PENDING)
        return max(self.received_cents - self.refunded_cents - promised, 0)

    @property
    def excess_cents(self) -> int:
        """Money still held beyond what its confirmed bookings cost: paid for holds that were
        released (or bookings cancelled) meanwhile, and owed back in full. Zero or less if
        nothing is."""
        kept = sum(
            b.price_gross_cents for b in self.bookings if b.status is BookingStatus.CONFIRMED
        )
        return self.refundable_cents - kept

    def capture_cents(self, now: datetime) -> int:
        """What an approval charges: the bookings still held. Those cancelled before the
        approval are not charged."""
        return sum(b.price_gross_cents for b in self.held_bookings(now))

    def given_back_cents(self, booking_id: int) -> int:
        """Refunded, or on its way back, for one booking (a refund that failed gave nothing)."""
        return sum(
            r.amount_cents for r in self.refunds
            if r.booking_id == booking_id and r.status is not RefundStatus.FAILED
        )

    def cancellation_refund_of(self, booking_id: int) -> Refund | None:
        """The refund the booking's cancellation made, not one made by hand before it: a
        booking is cancelled once, so it has one cancellation refund at most."""
        made = [
            r for r in self.refunds
            if r.booking_id == booking_id and r.reason is RefundReason.CANCELLATION
        ]
        return made[-1] if made else None

    # --- changes ------------------------------------------------------------------------

    def plan_checkout_expiry(self, min_lifetime: timedelta, now: datetime) -> None:
        """Fix, once, when the checkout will expire, and hold the slots exactly that long: as
        long as the holds, but never shorter than the gateway allows (Stripe: 30 minutes)."""
        held = [b for b in self.bookings if b.status is BookingStatus.HELD]
        if self.checkout_expires_at is not None or not held:
            return
        hold = min(b.hold_expires_at for b in held if b.hold_expires_at is not None)
        shortest = now + min_lifetime
        if shortest.microsecond:  # Stripe counts whole seconds; never end early
            shortest = shortest.replace(microsecond=0) + timedelta(seconds=1)
        expires_at = max(hold, shortest)
        self.checkout_expires_at = expires_at
        for booking in held:
            if booking.hold_expires_at is None or booking.hold_expires_at < expires_at:
                booking.keep_hold_until(expires_at, now)

    def checkout_opened(
        self, checkout_id: str, url: str, expires_at: datetime, now: datetime
    ) -> None:
        """The gateway opened our checkout: the member can pay there until ``expires_at``."""
        self.checkout_id = checkout_id
        self.checkout_url = url
        self.checkout_expires_at = expires_at
        self.updated_at = now
        for booking in self.bookings:
            # The hold lasts exactly as long as the checkout (Stripe's shortest is 30 minutes).
            if (
                booking.status is BookingStatus.HELD
                and booking.hold_expires_at is not None
                and booking.hold_expires_at < expires_at
            ):
                booking.hold_expires_at = expires_at

    def adopt_checkout(self, checkout_id: str, url: str, expires_at: datetime) -> None:
        """A checkout of ours learned from the gateway rather than from our create (we crashed
        before writing its id, or gave up on a create the gateway carried out after all).
        One we know already is kept."""
        if self.checkout_id is None:
            self.checkout_id = checkout_id
            self.checkout_url = url
            self.checkout_expires_at = expires_at

    def record_intent(self, intent_id: str, received_cents: int) -> None:
        """The gateway's payment behind the checkout. Money received only ever grows here: a
        stale answer showing less changes nothing."""
        self.payment_intent_id = intent_id
        self.received_cents = max(self.received_cents, received_cents)

    def learn(self, observed: PaymentStatus, now: datetime) -> bool:
        """Move to what the gateway says if that lies ahead (``states.advance``), never back:
        late, repeated or reordered news changes nothing. True if the status changed."""
        after = advance(self.status, observed)
        if after is self.status:
            return False
        self._moved(after, now)
        return True

    def fail(self, reason: str, now: datetime) -> None:
        """Nobody can pay this pending payment (its checkout could not be opened)."""
        self._moved(advance(self.status, PaymentStatus.FAILED), now)
        self.failure_reason = reason

    def expire_unopened(self, now: datetime) -> None:
        """Its checkout was never opened and its holds ran out (``checkout_never_opened``)."""
        self._moved(advance(self.status, PaymentStatus.EXPIRED), now)
        self.failure_reason = "checkout_never_opened"

    def approve(self, now: datetime) -> None:
        """Staff accepted the booking: the capture is due (``needs_capture``) until done."""
        self.approved_at = now
        self.updated_at = now

    def count_refund(self, amount_cents: int) -> None:
        """A refund of ours succeeded at the gateway: counted at once, never beyond what was
        received (``recount_refunds`` later counts from the rows)."""
        self.refunded_cents = min(self.refunded_cents + amount_cents, self.received_cents)

    def recount_refunds(self) -> None:
        """Refunded is what the succeeded refunds add up to, from the rows, not a running
        total: a refund that failed after all is given back."""
        done = sum(r.amount_cents for r in self.refunds if r.status is RefundStatus.SUCCEEDED)
        self.refunded_cents = min(done, self.received_cents)

    def record_transfer(self, *, by_id: int, reference: str, now: datetime) -> None:
        """Staff saw the bank transfer for this open amount arrive: paid in full (forward
        only, through ``advance``). Callers ask ``owes_transfer`` first, under the lock."""
        assert self.owes_transfer
        self._moved(advance(self.status, PaymentStatus.PAID), now)
        self.received_cents = self.amount_cents
        self.settled_at = now
        self.settled_by_id = by_id
        self.transfer_reference = reference

    def _moved(self, status: PaymentStatus, now: datetime) -> None:
        self.status = status
        self.updated_at = now


class Refund(db.Model):
    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payment.id", ondelete="RESTRICT"), index=True
    )
    # The booking this refund is for, when it is for one (a cancellation); None for a refund
    # of the whole payment or one made in the Stripe dashboard.
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking.id", ondelete="SET NULL"), index=True
    )
    amount_cents: Mapped[int]
    status: Mapped[RefundStatus] = mapped_column(
        enum_column(RefundStatus, "refund_status"), default=RefundStatus.PENDING
    )
    reason: Mapped[RefundReason] = mapped_column(enum_column(RefundReason, "refund_reason"))
    note: Mapped[str] = mapped_column(String(500), default="")
    idempotency_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_key)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    failure_message: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    payment: Mapped[Payment] = relationship(back_populates="refunds")
    created_by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<Refund {self.id} {self.amount_cents} {self.status.value} {self.reason.value}>"

    @property
    def is_pending(self) -> bool:
        return self.status is RefundStatus.PENDING

    @property
    def has_failed(self) -> bool:
        """Refused for good, or failed after it was reported done: the money is not back."""
        return self.status is RefundStatus.FAILED

    @property
    def is_unsent(self) -> bool:
        """Recorded, and the gateway has not accepted it yet. One it accepted and still shows
        as pending (a SEPA refund goes back by bank transfer, over days) is never sent again:
        the idempotency key would answer for 24 hours only, and then make a second refund.
        Pulling the checkout learns how it ends."""
        return self.is_pending and self.provider_refund_id is None

    def succeed(self, now: datetime) -> None:
        self.status = RefundStatus.SUCCEEDED
        self.updated_at = now

    def fail(self, message: str, now: datetime) -> None:
        """Also after it was reported succeeded: a card refund can still fail later, and then
        the money has not reached the member; staff must see that."""
        self.status = RefundStatus.FAILED
        self.failure_message = message[:500]
        self.updated_at = now


class ManualCharge(db.Model):
    """Something staff charge for by hand (printing, the 3D printer, extra equipment): one
    line with its own VAT rate, net and tax exact in cents, and the ``Payment`` that settles
    it (paid at the desk at once, or on invoice: open until the transfer is recorded).

    Never changed or deleted once written: a later invoice names these lines (see
    docs/payments.md)."""

    __tablename__ = "manual_charge"
    __table_args__ = (
        CheckConstraint("gross_cents > 0", name="gross_positive"),
        CheckConstraint("net_cents >= 0 AND tax_cents >= 0", name="parts_nonnegative"),
        CheckConstraint("gross_cents = net_cents + tax_cents", name="gross_is_net_plus_tax"),
        CheckConstraint("vat_percent >= 0 AND vat_percent <= 100", name="vat_percent_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payment.id", ondelete="RESTRICT"), index=True
    )
    # The member it was for (kept None once their account is deleted), and the company it
    # is billed to when it is.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("company.id", ondelete="SET NULL"), index=True
    )
    description: Mapped[str] = mapped_column(String(200))
    vat_percent: Mapped[int]
    gross_cents: Mapped[int]
    net_cents: Mapped[int]
    tax_cents: Mapped[int]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    payment: Mapped[Payment] = relationship(back_populates="charges")
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    company: Mapped[Company | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    def __repr__(self) -> str:
        return f"<ManualCharge {self.id} {self.gross_cents} {self.vat_percent} %>"


class WebhookEvent(db.Model):
    """A gateway event we have acted on. Its id is the key: a replay finds it and stops."""

    __tablename__ = "webhook_event"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255))
    payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment.id", ondelete="SET NULL"), index=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SimulatedCheckout(db.Model):
    """The simulated gateway's own record of a checkout, standing in for Stripe's servers.

    It lives in our database so the simulated flow survives restarts and works across
    several app processes, exactly like a remote gateway would.
    """

    __tablename__ = "simulated_checkout"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    # open | complete | expired (as Stripe names a Checkout Session's status)
    status: Mapped[str] = mapped_column(String(16), default="open")
    capture_method: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # None until paid; then Stripe's PaymentIntent statuses (succeeded, requires_capture, ...)
    intent_status: Mapped[str | None] = mapped_column(String(32))
    received_cents: Mapped[int] = mapped_column(default=0)
    refunds: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    success_url: Mapped[str] = mapped_column(Text)
    cancel_url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimulatedSubscription(db.Model):
    """The simulated gateway's own record of a subscription and its invoices, standing in
    for Stripe Billing (a Subscription with its Invoices, a Customer's payment method and,
    for SEPA, its mandate)."""

    __tablename__ = "simulated_subscription"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    # Stripe's subscription statuses: incomplete | active | past_due | canceled
    status: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(String(40))
    # card | sepa_debit, its label and the mandate reference (SEPA)
    payment_method: Mapped[str] = mapped_column(String(16))
    payment_method_label: Mapped[str] = mapped_column(String(64))
    mandate_reference: Mapped[str | None] = mapped_column(String(35))
    # The test page's switch: every charge fails until the payment method is replaced.
    failing: Mapped[bool] = mapped_column(default=False)
    unit_amount_cents: Mapped[int]
    quantity: Mapped[int] = mapped_column(default=1)
    currency: Mapped[str] = mapped_column(String(3))
    # Local dates, ISO (the simulation bills on the 1st, like billing_cycle_anchor).
    current_period_start: Mapped[str] = mapped_column(String(10))
    current_period_end: Mapped[str] = mapped_column(String(10))
    cancel_at: Mapped[str | None] = mapped_column(String(10))
    invoices: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
