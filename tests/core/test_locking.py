"""Row locks (PostgreSQL): exclusive between lockers, but no obstacle to a foreign key."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from schiller40.accounts.models import User
from schiller40.core import outbox
from schiller40.core.locking import lock_rows, write
from schiller40.extensions import db


@pytest.mark.postgresql_only
def test_a_locked_member_can_still_be_named_by_a_new_row(app, factory, clock):
    """A payment's transaction queues mail for a member (outbox.user_id -> user.id) while
    a booking request of that member holds the member's lock. With FOR UPDATE the insert's
    foreign-key check waited for that lock, and the two transactions deadlocked."""
    member = factory.user()
    db.session.commit()
    holder, writer = Session(db.engine), Session(db.engine)
    try:
        with write(holder):
            lock_rows(holder, User, [member.id])
            with write(writer):
                writer.execute(text("SET LOCAL lock_timeout = '2s'"))
                outbox.enqueue(writer, topic="mail.booking_confirmed", now=clock(),
                               payload={"booking_ids": []}, user_id=member.id)
                writer.flush()  # would raise LockNotAvailable under FOR UPDATE
            # Between lockers it stays exclusive.
            with pytest.raises(Exception, match="lock timeout"), write(writer):
                writer.execute(text("SET LOCAL lock_timeout = '200ms'"))
                lock_rows(writer, User, [member.id])
    finally:
        writer.close()
        holder.close()
