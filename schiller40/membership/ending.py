"""Memberships about to end: which ones the member should hear about.

A membership ends on its ``valid_until`` (a local date, inclusive). The member is told once,
``notice`` days ahead at most, unless another membership carries on from the next day (staff
moved them to another tier, or renewed): then nothing ends for them.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Membership, MembershipStatus


def successor(session: Session, membership: Membership) -> Membership | None:
    """An active membership of the same member that begins by the day after this one ends."""
    if membership.valid_until is None:
        return None
    return session.scalar(
        select(Membership).where(
            Membership.user_id == membership.user_id,
            Membership.id != membership.id,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.valid_from > membership.valid_from,
            Membership.valid_from <= membership.valid_until + timedelta(days=1),
        ).limit(1)
    )


def ending_soon(session: Session, *, today: date, notice_days: int) -> list[Membership]:
    """Active memberships whose last day is from ``today`` to ``notice_days`` ahead and that
    no other membership follows."""
    rows = session.scalars(
        select(Membership)
        .where(
            Membership.status == MembershipStatus.ACTIVE,
            Membership.valid_until.is_not(None),
            Membership.valid_until >= today,
            Membership.valid_until <= today + timedelta(days=notice_days),
        )
        .order_by(Membership.valid_until, Membership.id)
    ).all()
    # The follower's date is compared per row: date arithmetic in SQL differs between
    # PostgreSQL and SQLite, and these are a handful of rows a day.
    return [m for m in rows if successor(session, m) is None]
