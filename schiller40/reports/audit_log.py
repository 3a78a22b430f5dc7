"""Reading the audit log: filtered, newest first, one page at a time.

The log is written by the services (core/audit.py); this module only reads it. One query for
the page (each entry with its actor, joined, so no query per row) and one for the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..core.audit import AuditEntry, Channel

PER_PAGE = 50


@dataclass(frozen=True)
class AuditFilters:
    action_prefix: str | None = None  # "booking." or "booking.cancelled"
    actor: str | None = None  # part of an e-mail address or a name, any case
    object_type: str | None = None
    object_id: int | None = None
    channel: Channel | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    actor: User | None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int
    per_page: int

    @property
    def first_number(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last_number(self) -> int:
        return self.first_number + len(self.rows) - 1 if self.rows else 0


def _filtered(query: Select, filters: AuditFilters) -> Select:
    if filters.action_prefix:
        query = query.where(
            AuditEntry.action.startswith(filters.action_prefix.lower(), autoescape=True)
        )
    if filters.actor:
        needle = filters.actor.lower()
        query = query.where(or_(
            User.email.contains(needle, autoescape=True),
            func.lower(User.name).contains(needle, autoescape=True),
        ))
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.object_id is not None:
        query = query.where(AuditEntry.object_id == filters.object_id)
    if filters.channel is not None:
        query = query.where(AuditEntry.channel == filters.channel)
    if filters.since is not None:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEntry.at < filters.until)
    return query


def search(
    session: Session, filters: AuditFilters, *, page: int = 1, per_page: int = PER_PAGE
) -> AuditPage:
    """A page of matching entries, newest first. A page past the end shows the last one."""
    base = select(AuditEntry, User).outerjoin(User, User.id == AuditEntry.actor_id)
    total = session.scalar(
        _filtered(
            select(func.count(AuditEntry.id)).select_from(AuditEntry)
            .outerjoin(User, User.id == AuditEntry.actor_id),
            filters,
        )
    ) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    result = session.execute(
        _filtered(base, filters)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rows = [AuditRow(entry, actor) for entry, actor in result]
    return AuditPage(rows=rows, total=total, page=page, pages=pages, per_page=per_page)


def object_types(session: Session) -> list[str]:
    """The kinds of object the log mentions, for the filter's choices."""
    return sorted(session.scalars(select(AuditEntry.object_type).distinct()))
