"""The audit log: who did what to which object, and when.

Services write an entry in the same transaction as the change it describes, so the log can
never claim something that was rolled back, nor miss something that was committed.

Each entry also says through which **channel** the change came in (web, API, command line,
worker), as pretix does beside the actor. Services never read the request, so they do not
pass it: each entry point sets it once for everything it runs (a request hook, the API
blueprint, the app's CLI group, the worker's pass) and ``record`` reads it here. Work that no
entry point marked (a service called from a test or a script) is recorded as ``unknown``,
like the entries written before channels were recorded: an entry is never lost, nor an action
refused, for want of a label.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from .columns import enum_column
from .time import UTCDateTime

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Channel(enum.Enum):
    """Through which door a change came in."""

    WEB = "web"  # an HTTP request other than the JSON API: pages, forms, webhooks
    API = "api"  # the JSON API (/api/v1): bearer tokens, and asking for one
    CLI = "cli"  # a ``flask …`` command of this app, ``flask shell`` included
    WORKER = "worker"  # a worker pass: ``flask worker``, ``flask tick``, the embedded thread
    UNKNOWN = "unknown"  # written before channels were recorded, or outside any entry point


_channel: ContextVar[Channel] = ContextVar("schiller40_audit_channel", default=Channel.UNKNOWN)


def current_channel() -> Channel:
    return _channel.get()


@contextmanager
def using_channel(channel: Channel) -> Iterator[None]:
    """Record what runs inside the block as coming through ``channel`` (an inner block wins:
    ``flask tick`` is a command, but its entries are the worker's)."""
    token = _channel.set(channel)
    try:
        yield
    finally:
        _channel.reset(token)


def set_channel(channel: Channel) -> Token[Channel]:
    """For entry points that cannot wrap their work in a block (a request's before and
    teardown hooks): pass the token to ``reset_channel`` when the work is done. Resetting
    the first token of a request undoes every later ``set_channel`` of it too."""
    return _channel.set(channel)


def reset_channel(token: Token[Channel]) -> None:
    _channel.reset(token)


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_object", "object_type", "object_id"),
        Index("ix_audit_entry_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Nullable: the system itself (CLI seeding, the worker) acts without a user.
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    # Dotted, past tense, stable: "booking.cancelled", "user.registered". Tools filter on it.
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Entries from before migration 0007 say "unknown": nobody can tell their channel now.
    channel: Mapped[Channel] = mapped_column(
        enum_column(Channel, "audit_channel"), server_default=Channel.UNKNOWN.value
    )

    def __repr__(self) -> str:
        return f"<AuditEntry {self.action} {self.object_type}:{self.object_id} by {self.actor_id}>"


def record(
    session: Session,
    *,
    action: str,
    now: datetime,
    actor_id: int | None = None,
    object_type: str,
    object_id: int | None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction (it is committed, or not, with it).
    The channel is the one the entry point set (``using_channel``)."""
    entry = AuditEntry(
        at=now,
        actor_id=actor_id,
        channel=_channel.get(),
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details or {},
    )
    session.add(entry)
    return entry
