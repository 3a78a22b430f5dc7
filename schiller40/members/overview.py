"""What the account page shows about a member's membership: tier, validity, what it includes
and how much of the included credit is left this month.

The remaining credit is computed by the booking engine's own ``snapshots.credit_left`` (company
pool, per-member caps, credit given back by timely cancellations), so the page can never
promise more than the next booking would actually get for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts.models import Company, User
from ..billing.models import Subscription
from ..billing.service import latest_subscription
from ..booking import snapshots
from ..booking.rules import Credit, LocationRules
from ..core.time import BERLIN, to_local
from ..membership.models import Membership, MembershipStatus, Tier
from ..resources.models import Location


@dataclass(frozen=True)
class AccountOverview:
    membership: Membership | None  # in force today
    upcoming: Membership | None  # the next one, if none is in force or it ends
    tier: Tier | None
    credit: Credit  # left this month (after company pooling and caps)
    month: date  # the first day of the month the credit is for
    company: Company | None
    # The member's monthly fee (open, else the latest), if they ever had one.
    subscription: Subscription | None = None

    @property
    def desk_days_left(self) -> Decimal:
        return Decimal(self.credit.half_days) / 2

    @property
    def studio_hours_left(self) -> Decimal:
        return (Decimal(self.credit.minutes) / 60).quantize(Decimal("0.1"))

    @property
    def shares_company_pool(self) -> bool:
        return self.company is not None and len(self.company.members) > 1


def _location_rules(session: Session, today: date) -> LocationRules:
    """The first location's rules: months begin at its local midnight. Without a location
    (a fresh install) Wolfsburg's zone gives the same month bounds."""
    location = session.scalar(select(Location).order_by(Location.id).limit(1))
    if location is None:
        return LocationRules(tz=BERLIN, opening_hours={})
    return snapshots.location_rules(location, [today.year])


def account_overview(session: Session, *, user: User, now: datetime) -> AccountOverview:
    """A read: nothing is written, so the page can be reloaded freely."""
    user = session.merge(user)
    today = to_local(now).date()
    membership = snapshots.membership_on(session, user.id, today)
    upcoming = session.scalar(
        select(Membership)
        .where(
            Membership.user_id == user.id,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.valid_from > today,
        )
        .order_by(Membership.valid_from)
        .limit(1)
    )
    credit = snapshots.credit_left(
        session, user, day=today, location=_location_rules(session, today)
    )
    return AccountOverview(
        membership=membership,
        upcoming=upcoming,
        tier=membership.tier if membership else None,
        credit=credit,
        month=today.replace(day=1),
        company=user.company,
        subscription=latest_subscription(session, user.id),
    )
