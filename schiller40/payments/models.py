"""Payments, refunds and the webhook events already handled.

A ``Payment`` is our record of one checkout: what is owed for one or more held bookings (a
series is paid in one go), which checkout the gateway opened for it, and how far the money
has come. Its ``status`` only ever moves forward (see ``states.py``): a late, duplicated or
reordered webhook can never take a paid booking back to "pending".

Money is integer cents, EUR, gross. The gateway's own figures (received, refunded) are copied
here on every sync so staff pages and reconciliation read one place.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.audit import JSONType
from ..core.columns import enum_column
from ..core.time import UTCDateTime
from ..extensions import db

if TYPE_CHECKING:
    from ..accounts.models import User
    from ..booking.models import Booking


def new_key() -> str:
    return uuid.uuid4().hex


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"  # checkout opened (or about to be); nothing paid yet
    PROCESSING = "processing"  # paid with a slow method (SEPA); the money is on its way
    FAILED = "failed"  # the slow method failed, or the checkout could not be opened
    EXPIRED = "expired"  # the checkout ran out unpaid
    AUTHORIZED = "authorized"  # card authorised, not captured: waits for staff approval
    CANCELLED = "cancelled"  # an authorisation given back (rejected or run out)
    PAID = "paid"


class CaptureMethod(enum.StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"  # authorise now, capture when staff approve


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

    user: Mapped[User | None] = relationship()
    bookings: Mapped[list[Booking]] = relationship(
        back_populates="payment", order_by="Booking.starts_at"
    )
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="payment", order_by="Refund.id"
    )

    def __repr__(self) -> str:
        return f"<Payment {self.id} {self.provider} {self.status.value} {self.amount_cents}>"

    @property
    def is_open(self) -> bool:
        """Still waiting for the member or the gateway: reconciliation looks at these."""
        return self.status in (
            PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.AUTHORIZED
        )

    @property
    def refundable_cents(self) -> int:
        """Money received that is neither refunded nor promised back by a pending refund."""
        promised = sum(r.amount_cents for r in self.refunds if r.status is RefundStatus.PENDING)
        return max(self.received_cents - self.refunded_cents - promised, 0)


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
