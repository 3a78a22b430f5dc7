"""What a company's manager sees of the team: each member's caps and the included credit
they used in a month, counted the way the booking engine counts it
(``booking.snapshots.credit_used``: the credit recorded on the month's bookings; a timely
cancellation gives it back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from ..accounts.companies import managed_company
from ..accounts.models import Company, User
from ..booking import snapshots
from ..core.time import to_local
from .overview import location_rules_for


@dataclass(frozen=True)
class MemberUse:
    member: User
    half_days: int  # desk credit used, in half days
    minutes: int  # studio credit used

    @property
    def desk_days(self) -> Decimal:
        return Decimal(self.half_days) / 2

    @property
    def studio_hours(self) -> Decimal:
        return (Decimal(self.minutes) / 60).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class TeamUse:
    company: Company
    month: date  # its first day
    rows: list[MemberUse]

    @property
    def total_desk_days(self) -> Decimal:
        return sum((r.desk_days for r in self.rows), Decimal(0))

    @property
    def total_studio_hours(self) -> Decimal:
        return sum((r.studio_hours for r in self.rows), Decimal(0))


def team_use(
    session: Session, *, actor: User, company_id: int, now: datetime, month: date | None = None,
) -> TeamUse:
    """The team and its use in ``month`` (default: this one). A read, for managers and staff
    (``managed_company`` refuses anyone else)."""
    company = managed_company(session, actor, company_id)
    first = (month or to_local(now).date()).replace(day=1)
    bounds = snapshots.month_bounds(location_rules_for(session, first), first)
    used = snapshots.credit_used(session, [m.id for m in company.members], bounds)
    rows = [MemberUse(m, *used.get(m.id, (0, 0))) for m in company.members]
    return TeamUse(company=company, month=first, rows=rows)
