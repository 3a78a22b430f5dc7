"""A member's change of tier on a monthly subscription: an upgrade from tomorrow (applied
at once, its pro-rated difference a ``proration`` period) or a downgrade from the 1st of next
month (planned until the worker applies it on the day, withdrawable until then).

One row per change keeps the history (who, when, from what to what, at which price) and
makes a double submit harmless: a partial unique index allows one unfinished change
(``pending`` or ``planned``) per subscription, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.columns import enum_column
from ..core.time import UTCDateTime
from ..extensions import db
from .models import new_key

if TYPE_CHECKING:
    from ..membership.models import Tier
    from .models import BillingPeriod, Subscription


class ChangeStatus(enum.StrEnum):
    PENDING = "pending"  # an upgrade on its way to the gateway (a crash leaves it to finish)
    PLANNED = "planned"  # a downgrade waiting for its day
    APPLIED = "applied"  # final
    WITHDRAWN = "withdrawn"  # the member took it back (or a cancellation made it moot); final


UNFINISHED = (ChangeStatus.PENDING, ChangeStatus.PLANNED)


class ChangeKind(enum.StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


class SubscriptionChange(db.Model):
    __tablename__ = "subscription_change"
    __table_args__ = (
        Index(
            "uq_subscription_change_unfinished", "subscription_id", unique=True,
            sqlite_where=text("status IN ('pending', 'planned')"),
            postgresql_where=text("status IN ('pending', 'planned')"),
        ),
        Index("ix_subscription_change_status_effective", "status", "effective_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ChangeKind] = mapped_column(enum_column(ChangeKind, "subscription_change_kind"))
    status: Mapped[ChangeStatus] = mapped_column(
        enum_column(ChangeStatus, "subscription_change_status")
    )
    from_tier_id: Mapped[int] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"))
    to_tier_id: Mapped[int] = mapped_column(ForeignKey("tier.id", ondelete="RESTRICT"))
    from_amount_cents: Mapped[int]  # gross monthly per seat before
    to_amount_cents: Mapped[int]  # and after
    # The first day in the new tier (local): tomorrow (up) or the 1st of next month (down).
    effective_on: Mapped[date]
    # The upgrade's pro-rated difference, as quoted (None: nothing left to pro-rate).
    proration_cents: Mapped[int | None]
    period_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_period.id", ondelete="SET NULL")
    )
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    idempotency_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_key)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    subscription: Mapped[Subscription] = relationship()
    from_tier: Mapped[Tier] = relationship(foreign_keys=[from_tier_id])
    to_tier: Mapped[Tier] = relationship(foreign_keys=[to_tier_id])
    period: Mapped[BillingPeriod | None] = relationship()

    def __repr__(self) -> str:
        return f"<SubscriptionChange {self.id} {self.kind.value} {self.status.value}>"

    @property
    def is_unfinished(self) -> bool:
        return self.status in UNFINISHED

    def can_withdraw(self, today: date) -> bool:
        return self.status is ChangeStatus.PLANNED and today < self.effective_on

    def apply(self, *, now: datetime) -> bool:
        if self.status not in UNFINISHED:
            return False
        self.status = ChangeStatus.APPLIED
        self.applied_at = now
        return True

    def withdraw(self, *, now: datetime) -> bool:
        if self.status not in UNFINISHED:
            return False
        self.status = ChangeStatus.WITHDRAWN
        self.withdrawn_at = now
        return True
