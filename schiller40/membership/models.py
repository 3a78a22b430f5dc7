"""What a member may book, how far ahead, how much is included and what the rest costs."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..core.columns import enum_column
from ..core.time import UTCDateTime
from ..extensions import db
from ..resources.models import ResourceKind


class SignupMode(enum.StrEnum):
    """Who may give a member this tier."""

    SELF_SERVICE = "self_service"  # the member chooses it online, in force at once
    ON_REQUEST = "on_request"  # the member asks online, staff confirm (e.g. with a contract)
    STAFF_ONLY = "staff_only"  # only staff assign it


class Tier(db.Model):
    """A membership tier. Money is integer cents, gross (VAT included at ``VAT_RATE_PERCENT``)."""

    __tablename__ = "tier"
    __table_args__ = (
        CheckConstraint("monthly_price_cents >= 0", name="monthly_price_nonnegative"),
        CheckConstraint("booking_horizon_days >= 0", name="horizon_nonnegative"),
        CheckConstraint("max_future_bookings >= 0", name="max_future_nonnegative"),
        CheckConstraint("included_desk_days >= 0", name="desk_days_nonnegative"),
        CheckConstraint("included_studio_hours >= 0", name="studio_hours_nonnegative"),
        CheckConstraint("notice_days >= 0", name="notice_days_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    monthly_price_cents: Mapped[int] = mapped_column(default=0)
    booking_horizon_days: Mapped[int] = mapped_column(default=14)
    max_future_bookings: Mapped[int] = mapped_column(default=10)
    included_desk_days: Mapped[int] = mapped_column(default=0)
    included_studio_hours: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    signup_mode: Mapped[SignupMode] = mapped_column(
        enum_column(SignupMode, "signup_mode"), default=SignupMode.STAFF_ONLY,
        server_default=SignupMode.STAFF_ONLY.value,
    )
    # A member cancels to the end of a calendar month, this many whole days ahead.
    notice_days: Mapped[int] = mapped_column(default=0, server_default="0")

    prices: Mapped[list[TierKindPrice]] = relationship(
        back_populates="tier", cascade="all, delete-orphan", order_by="TierKindPrice.kind"
    )

    def __repr__(self) -> str:
        return f"<Tier {self.slug}>"

    def price_for(self, kind: ResourceKind) -> TierKindPrice | None:
        return next((p for p in self.prices if p.kind == kind), None)

    @property
    def bookable_kinds(self) -> list[ResourceKind]:
        return [p.kind for p in self.prices]

    @property
    def chosen_online(self) -> bool:
        """A member takes it on the membership page at once: self-service without a monthly
        fee (the member pays per booking)."""
        return self.signup_mode is SignupMode.SELF_SERVICE and self.monthly_price_cents == 0

    @property
    def subscribed_online(self) -> bool:
        """A member takes it online as a monthly subscription (card or SEPA direct debit)."""
        return self.signup_mode is SignupMode.SELF_SERVICE and self.monthly_price_cents > 0

    @property
    def requested_online(self) -> bool:
        """A member asks for it online; staff confirm or decline."""
        return self.signup_mode is SignupMode.ON_REQUEST


class TierKindPrice(db.Model):
    """A tier's terms for one resource kind.

    The row's existence is the permission to book that kind; its prices apply to what the
    member's included credit does not cover. A price left empty means that unit is not sold
    (e.g. no half days in the studio).
    """

    __tablename__ = "tier_kind_price"
    __table_args__ = (
        UniqueConstraint("tier_id", "kind"),
        CheckConstraint(
            "(price_hour_cents IS NULL OR price_hour_cents >= 0)"
            " AND (price_half_day_cents IS NULL OR price_half_day_cents >= 0)"
            " AND (price_day_cents IS NULL OR price_day_cents >= 0)",
            name="prices_nonnegative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("tier.id", ondelete="CASCADE"))
    kind: Mapped[ResourceKind] = mapped_column(enum_column(ResourceKind, "tier_kind"))
    price_hour_cents: Mapped[int | None]
    price_half_day_cents: Mapped[int | None]
    price_day_cents: Mapped[int | None]

    tier: Mapped[Tier] = relationship(back_populates="prices")


class MembershipStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class Membership(db.Model):
    """A user's tier for a span of local dates (``valid_until`` inclusive, open-ended if None)."""

    __tablename__ = "membership"
    __table_args__ = (
        CheckConstraint(
            "valid_until IS NULL OR valid_until >= valid_from", name="until_after_from"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"), index=True)
    valid_from: Mapped[date]
    valid_until: Mapped[date | None]
    status: Mapped[MembershipStatus] = mapped_column(
        enum_column(MembershipStatus, "membership_status"), default=MembershipStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Paid monthly through this subscription (``billing.models.Subscription``): included
    # credit counts only for days up to ``paid_through``, and while the subscription is
    # suspended the membership is PAUSED (the fee-less tier's terms apply, see
    # ``booking.snapshots.member``). None: assigned by staff, not billed (credit as always).
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscription.id", ondelete="SET NULL"), index=True
    )
    paid_through: Mapped[date | None]

    user: Mapped[User] = relationship(back_populates="memberships")
    tier: Mapped[Tier] = relationship()

    @property
    def is_billed(self) -> bool:
        return self.subscription_id is not None

    def is_valid_on(self, day: date) -> bool:
        return (
            self.status is MembershipStatus.ACTIVE
            and self.valid_from <= day
            and (self.valid_until is None or day <= self.valid_until)
        )


class RequestStatus(enum.StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DECLINED = "declined"


class MembershipRequest(db.Model):
    """A member asked for an on-request tier; staff confirm (a ``Membership`` from a date they
    pick) or decline (with a reason).

    Not a ``Membership``: nothing that reads memberships (the booking engine, the account
    page, staff lists, the data export's memberships) can mistake a request for one in force.
    A member has at most one open request, which the database guards with a partial unique
    index, so a double submit cannot make two.
    """

    __tablename__ = "membership_request"
    __table_args__ = (
        Index(
            "uq_membership_request_user_id", "user_id", unique=True,
            postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'"),
        ),
        Index("ix_membership_request_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    tier_id: Mapped[int] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"), index=True)
    status: Mapped[RequestStatus] = mapped_column(
        enum_column(RequestStatus, "membership_request_status"), default=RequestStatus.OPEN
    )
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    # The day staff chose for the start (set on confirmation).
    starts_on: Mapped[date | None] = mapped_column()
    # The membership a confirmation started; for a tier with a monthly fee the one the
    # member's subscription started (until then the confirmation is unused).
    membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("membership.id", ondelete="SET NULL")
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    tier: Mapped[Tier] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    membership: Mapped[Membership | None] = relationship()

    @property
    def is_open(self) -> bool:
        return self.status is RequestStatus.OPEN

    @property
    def awaits_payment(self) -> bool:
        """Confirmed for a tier with a monthly fee, and the member has not yet subscribed:
        they may sign up for that tier's monthly payment (once)."""
        return (
            self.status is RequestStatus.CONFIRMED and self.membership_id is None
            and self.membership is None and self.tier.monthly_price_cents > 0
        )

    def confirm(self, *, by: User, membership: Membership, now: datetime) -> None:
        self._decide(RequestStatus.CONFIRMED, by=by, now=now)
        self.membership = membership
        self.starts_on = membership.valid_from

    def confirm_for_payment(self, *, by: User, starts_on: date, now: datetime) -> None:
        """Confirmed, but the membership begins only with the member's monthly payment."""
        self._decide(RequestStatus.CONFIRMED, by=by, now=now)
        self.starts_on = starts_on

    def use(self, membership: Membership) -> None:
        """The member's subscription started ``membership``: the confirmation is used."""
        if not self.awaits_payment:
            raise ValueError(f"request {self.id} does not await a payment")
        self.membership = membership

    def decline(self, *, by: User, reason: str, now: datetime) -> None:
        self._decide(RequestStatus.DECLINED, by=by, now=now)
        self.decline_reason = reason

    def _decide(self, status: RequestStatus, *, by: User, now: datetime) -> None:
        if not self.is_open:
            raise ValueError(f"request {self.id} is {self.status}, not open")
        self.status = status
        self.decided_by = by
        self.decided_at = now


class Induction(db.Model):
    """Proof that a member was trained for a studio; studios name the induction they need."""

    __tablename__ = "induction"
    __table_args__ = (UniqueConstraint("user_id", "topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    # Matches Resource.induction, e.g. "ar-vr-studio" or "broadcast-studio".
    topic: Mapped[str] = mapped_column(String(64))
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="inductions", foreign_keys=[user_id])
    granted_by: Mapped[User | None] = relationship(foreign_keys=[granted_by_id])
