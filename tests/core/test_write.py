"""``write``: the one way a use case begins, commits and rolls back a write transaction, and the
lock timeout that turns a long wait behind a row lock into a clean 503."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from schiller40.accounts.models import Company, User
from schiller40.core.locking import (
    LockOutsideWrite,
    commit_and_continue,
    end_read,
    in_write,
    is_unique_violation,
    lock_rows,
    write,
)
from schiller40.errors import DomainError
from schiller40.extensions import db
from schiller40.resources.models import Resource

NOW = datetime(2026, 11, 23, 8, tzinfo=UTC)


def companies() -> int:
    return db.session.scalar(select(func.count()).select_from(Company))


def test_a_block_that_ends_normally_is_committed(app):
    with write(db.session) as session:
        assert in_write(session)
        session.add(Company(name="Kept GmbH", created_at=NOW))
    assert not in_write(db.session)
    db.session.rollback()  # a fresh transaction still sees it: it was committed
    assert companies() == 1


def test_a_refusal_leaves_nothing_behind(app):
    with pytest.raises(DomainError), write(db.session) as session:
        session.add(Company(name="Half GmbH", created_at=NOW))
        session.flush()
        raise DomainError()
    assert not db.session().in_transaction()
    assert companies() == 0


def test_a_failing_commit_is_rolled_back_and_the_session_stays_usable(app, factory):
    member = factory.user(email="one@example.org")
    db.session.commit()
    with pytest.raises(IntegrityError), write(db.session) as session:
        # The same address again: the unique index refuses it at commit.
        session.add(User(email=member.email, name="Twin", password_hash="x", created_at=NOW))
    with write(db.session) as session:
        session.add(Company(name="Next GmbH", created_at=NOW))
    assert companies() == 1
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_an_inner_write_joins_the_outer_one(app):
    with pytest.raises(DomainError), write(db.session) as outer:
        with write(outer) as inner:
            inner.add(Company(name="Inner GmbH", created_at=NOW))
        # The inner block did not commit: the outer one's failure takes it back too.
        assert in_write(outer)
        raise DomainError()
    assert companies() == 0


def test_locks_are_refused_outside_a_write_block(app, place):
    db.session.rollback()
    with pytest.raises(LockOutsideWrite):
        lock_rows(db.session, Resource, [place.desks[0].id])
    with write(db.session) as session:
        lock_rows(session, Resource, [place.desks[0].id])
    with pytest.raises(LockOutsideWrite):  # not after the block either
        lock_rows(db.session, Resource, [place.desks[0].id])


@pytest.mark.postgresql_only
def test_a_write_waits_for_a_lock_only_as_long_as_configured(app):
    """SET LOCAL per write transaction, not a connection parameter (which PgBouncer refuses
    and which would replace the URL's own options): reads and the pooled connection keep
    the server's default."""
    assert app.config["LOCK_TIMEOUT_SECONDS"] == 10
    db.session.rollback()
    assert db.session.scalar(text("SHOW lock_timeout")) == "0"
    with write(db.session) as session:
        assert session.scalar(text("SHOW lock_timeout")) == "10s"
    assert db.session.scalar(text("SHOW lock_timeout")) == "0"


def test_ending_a_read_inside_a_write_block_is_refused(app):
    with pytest.raises(LockOutsideWrite), write(db.session) as session:
        session.add(Company(name="Kept GmbH", created_at=NOW))
        end_read(session)
    assert companies() == 0


def test_housekeeping_committed_midway_stands_when_the_block_then_fails(app):
    """``commit_and_continue`` (used by expire_stale): what came before it is kept even though
    the rest of the block is refused; the rest is rolled back as usual."""
    with pytest.raises(DomainError), write(db.session) as session:
        session.add(Company(name="Housekeeping GmbH", created_at=NOW))
        commit_and_continue(session)
        assert in_write(session)
        session.add(Company(name="Refused GmbH", created_at=NOW))
        raise DomainError()
    assert db.session.scalars(select(Company.name)).all() == ["Housekeeping GmbH"]
    with pytest.raises(LockOutsideWrite):
        commit_and_continue(db.session)


def test_a_unique_violation_is_told_apart_from_other_integrity_errors(app, factory):
    """Services answer one duplicate with a clear message; any other integrity error of the
    same transaction must not get that message."""
    factory.company(name="Twin GmbH")
    db.session.commit()
    with pytest.raises(IntegrityError) as duplicate, write(db.session) as session:
        session.add(Company(name="Twin GmbH", created_at=NOW))
    assert is_unique_violation(duplicate.value, "company", "name")
    assert not is_unique_violation(duplicate.value, "induction", "user_id", "topic")
    with pytest.raises(IntegrityError) as missing, write(db.session) as session:
        session.add(Company(name=None, created_at=NOW))  # NOT NULL, not a duplicate
    assert not is_unique_violation(missing.value, "company", "name")
