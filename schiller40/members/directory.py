"""Read-only queries behind the staff member pages: search and a member's record.

No locks and no writes: these answer "who is this" for display. Every change goes through a
service (``membership.service``, ``accounts.admin``), which re-reads under lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import Company, Role, User
from ..booking.models import Booking, WaitlistEntry, WaitlistStatus
from ..core.audit import AuditEntry
from ..membership.models import Induction, Membership, MembershipStatus, Tier
from ..payments.models import Payment

PER_PAGE = 25
# Filter value for members without a membership in force today.
NO_TIER = "none"


@dataclass(frozen=True)
class MemberRow:
    user: User
    tier: Tier | None


@dataclass(frozen=True)
class SearchResult:
    rows: list[MemberRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def _like(text: str) -> str:
    """A LIKE pattern for "contains text", with the user's % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _in_force(day: date) -> Any:
    return and_(
        Membership.status == MembershipStatus.ACTIVE,
        Membership.valid_from <= day,
        or_(Membership.valid_until.is_(None), Membership.valid_until >= day),
    )


def _filtered(
    query: Select[Any], *, text: str, tier: str | None, role: Role | None, day: date,
    among: Any = None,
) -> Select[Any]:
    if among is not None:
        query = query.where(User.id.in_(among))
    if text:
        pattern = _like(text)
        query = query.outerjoin(Company, User.company_id == Company.id).where(
            or_(
                func.lower(User.name).like(pattern, escape="\\"),
                User.email.like(pattern, escape="\\"),  # stored lower-case
                func.lower(Company.name).like(pattern, escape="\\"),
            )
        )
    if role is not None:
        query = query.where(User.role == role)
    if tier == NO_TIER:
        query = query.where(
            ~exists().where(Membership.user_id == User.id, _in_force(day))
        )
    elif tier is not None:
        query = query.where(
            exists().where(
                Membership.user_id == User.id, Membership.tier_id == int(tier), _in_force(day)
            )
        )
    return query


def current_tiers(session: Session, user_ids: list[int], day: date) -> dict[int, Tier]:
    """The tier in force on ``day`` per user (one query for a whole page)."""
    if not user_ids:
        return {}
    memberships = session.scalars(
        select(Membership)
        .where(Membership.user_id.in_(user_ids), _in_force(day))
        .options(selectinload(Membership.tier))
        .order_by(Membership.valid_from)
    )
    # Ordered by start: the latest start wins, as in the booking engine.
    return {m.user_id: m.tier for m in memberships}


def search_members(
    session: Session,
    *,
    text: str = "",
    tier: str | None = None,
    role: Role | None = None,
    page: int = 1,
    day: date,
    per_page: int = PER_PAGE,
    among: Any = None,
) -> SearchResult:
    """Users whose name, e-mail or company contains ``text`` (ignoring case), by name.

    ``tier`` is a tier id (as text), ``NO_TIER``, or None for any; ``among`` a subquery of
    user ids to keep (e.g. members with repeated no-shows). A page past the end gives the
    last page, so a stale link after a narrower search still shows results.
    """
    text = text.strip()
    total = session.scalar(
        _filtered(select(func.count(User.id)), text=text, tier=tier, role=role, day=day,
                  among=among)
    ) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    users = list(
        session.scalars(
            _filtered(select(User), text=text, tier=tier, role=role, day=day, among=among)
            .options(selectinload(User.company))
            .order_by(func.lower(User.name), User.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    tiers = current_tiers(session, [u.id for u in users], day)
    return SearchResult(
        rows=[MemberRow(u, tiers.get(u.id)) for u in users],
        total=total, page=page, per_page=per_page,
    )


def tiers(session: Session) -> list[Tier]:
    return list(session.scalars(select(Tier).order_by(Tier.position, Tier.name)))


def companies(session: Session) -> list[Company]:
    return list(session.scalars(select(Company).order_by(func.lower(Company.name))))


def get_member(session: Session, member_id: int) -> User | None:
    return session.scalar(
        select(User)
        .where(User.id == member_id)
        .options(
            selectinload(User.company),
            selectinload(User.memberships).selectinload(Membership.tier),
            selectinload(User.inductions).selectinload(Induction.granted_by),
        )
    )


def past_bookings(
    session: Session, member_id: int, *, now: datetime, limit: int = 50
) -> list[Booking]:
    """The member's most recent bookings that have ended (newest first).

    ``booking.queries.list_bookings`` lists oldest first within a window; for a member's
    history the newest are what staff want to see.
    """
    return list(
        session.scalars(
            select(Booking)
            .where(Booking.user_id == member_id, Booking.ends_at <= now)
            .options(
                selectinload(Booking.resource),
                selectinload(Booking.payment).selectinload(Payment.refunds),
            )
            .order_by(Booking.starts_at.desc(), Booking.id.desc())
            .limit(limit)
        )
    )


def waitlist_entries(session: Session, member_id: int, *, now: datetime) -> list[WaitlistEntry]:
    """The member's waiting-list entries for times still ahead, soonest first."""
    return list(
        session.scalars(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.user_id == member_id,
                WaitlistEntry.ends_at > now,
                WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
            )
            .options(selectinload(WaitlistEntry.resource))
            .order_by(WaitlistEntry.starts_at, WaitlistEntry.id)
        )
    )


def induction_notes(session: Session, member_id: int) -> dict[int, str]:
    """The note given with each induction grant, by induction id (kept in the audit log)."""
    entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.object_type == "user",
            AuditEntry.object_id == member_id,
            AuditEntry.action == "induction.granted",
        )
    )
    notes: dict[int, str] = {}
    for entry in entries:
        details = entry.details or {}
        if details.get("note") and isinstance(details.get("induction"), int):
            notes[details["induction"]] = str(details["note"])
    return notes
