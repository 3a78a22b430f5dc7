"""The first step of the lock order (``core/locking.py``): the member and their company.

The booking engine, the payments service and the staff's changes to a member (memberships,
inductions, company) all lock the member row before anything else of theirs, so these live
with the account rather than in any one of those packages.
"""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from ..core.locking import LockOutsideWrite, in_write, lock_rows
from ..errors import NotFound
from .models import Company, User


def lock_member(session: Session, user: User | None) -> None:
    """Lock the member (and their company) before any resource, on PostgreSQL.

    Resource locks keep two bookings off one slot, but the per-member rules (upcoming-booking
    quota, monthly credit, a company's shared pool) span resources: two bookings on
    different desks could both pass them. Members and companies are always locked before
    resources, so no two transactions wait on each other in a cycle.
    """
    if not in_write(session):
        raise LockOutsideWrite("lock_member outside a write block")
    if user is None:
        return
    user_id = inspect(user).identity[0]  # not user.id: that would read an expired row first
    if session.get_bind().dialect.name == "postgresql":
        # The member's row comes with its lock: one statement, not a refresh and then a lock.
        user = session.scalars(
            select(User).where(User.id == user_id).with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        ).one()
    if user.company_id is not None:
        lock_rows(session, Company, [user.company_id])


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise NotFound()


def load_member(session: Session, actor: User, member_id: int) -> User:
    """The member, their (and their company's) row locked; inside the caller's ``write``
    block (``lock_rows`` refuses to run outside one)."""
    _require_staff(actor)
    member = session.get(User, member_id)
    if member is None:
        raise NotFound()
    lock_member(session, member)
    session.refresh(member)  # anything read before the lock may be stale
    return member
