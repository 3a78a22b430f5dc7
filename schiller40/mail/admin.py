"""Staff decisions about messages the worker gave up on: send again, or discard.

A failed message stays in the outbox until staff act, so a mail server that was down for a
day, or a mistyped address since corrected, is not silently the member's loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import User
from ..core import audit, outbox
from ..core.locking import write
from ..core.outbox import OutboxMessage, OutboxStatus
from ..errors import DomainError


class NotFailed(DomainError):
    code = "not_failed"
    status = 409
    default_message = _l("This message is no longer failed: it was sent or handled meanwhile.")


@dataclass(frozen=True)
class Overview:
    counts: dict[OutboxStatus, int]
    failed: list[OutboxMessage]
    retrying: list[OutboxMessage]


def overview(session: Session, *, limit: int = 200) -> Overview:
    def rows(*where) -> list[OutboxMessage]:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(*where)
                .options(selectinload(OutboxMessage.user))
                .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                .limit(limit)
            )
        )

    return Overview(
        counts=outbox.counts(session),
        failed=rows(OutboxMessage.status == OutboxStatus.FAILED),
        retrying=rows(OutboxMessage.status == OutboxStatus.PENDING,
                      OutboxMessage.attempts > 0),
    )


def failed_count(session: Session) -> int:
    return outbox.counts(session)[OutboxStatus.FAILED]


def retry(session: Session, *, actor: User, message_id: int, now: datetime) -> OutboxMessage:
    with write(session):
        row = outbox.retry(session, message_id, now=now)
        if row is None:
            raise NotFailed()
        audit.record(session, action="outbox.retried", now=now, actor_id=actor.id,
                     object_type="outbox", object_id=row.id, details={"topic": row.topic})
    return row


def discard(session: Session, *, actor: User, message_id: int, now: datetime) -> None:
    with write(session):
        row = session.get(OutboxMessage, message_id, with_for_update=True)
        if row is None or row.status is not OutboxStatus.FAILED:
            raise NotFailed()
        audit.record(session, action="outbox.discarded", now=now, actor_id=actor.id,
                     object_type="outbox", object_id=row.id,
                     details={"topic": row.topic, "user_id": row.user_id,
                              "last_error": (row.last_error or "")[:200]})
        session.delete(row)
