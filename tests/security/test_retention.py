"""Retention: old audit details and deleted members' notes go; the records themselves stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from schiller40 import create_app
from schiller40.booking.models import Booking
from schiller40.core import audit
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.settings import ConfigError
from schiller40.worker import jobs

from ..mail.helpers import run_tick

DETAILS = {"reason": "Mein Kind ist krank", "old": {"note": "x"}, "refund_cents": 1200}


def entry(clock, *, age: timedelta, action: str = "booking.cancelled", **kw) -> int:
    row = audit.record(
        db.session, action=action, now=clock() - age, actor_id=None,
        object_type="booking", object_id=kw.pop("object_id", 1), details=dict(DETAILS),
    )
    db.session.commit()
    return row.id


def details(entry_id: int) -> dict:
    db.session.expire_all()
    return db.session.get(AuditEntry, entry_id).details


def test_details_go_after_the_retention_period_the_entry_stays(app, clock):
    old = entry(clock, age=timedelta(days=731))
    edge = entry(clock, age=timedelta(days=729))
    new = entry(clock, age=timedelta(0))
    report = run_tick(clock)
    assert report.jobs["retention"] == 1
    assert details(old) == {}
    assert details(edge) == DETAILS
    assert details(new) == DETAILS
    kept = db.session.get(AuditEntry, old)
    assert (kept.action, kept.object_type, kept.object_id) == ("booking.cancelled", "booking", 1)
    assert kept.at == clock() - timedelta(days=731)

    # Idempotent: nothing left to do, nothing written.
    assert run_tick(clock).jobs["retention"] == 0

    # Time passes: the entry from two days under the limit is due.
    clock.advance(timedelta(days=2))
    assert run_tick(clock).jobs["retention"] == 1
    assert details(edge) == {}
    assert details(new) == DETAILS


def test_the_period_is_configurable(app, clock):
    app.config["AUDIT_DETAILS_RETENTION_DAYS"] = 30
    young = entry(clock, age=timedelta(days=29))
    older = entry(clock, age=timedelta(days=31))
    run_tick(clock)
    assert details(young) == DETAILS
    assert details(older) == {}


def test_works_in_batches_until_all_are_done(app, clock, monkeypatch):
    monkeypatch.setattr(jobs, "RETENTION_BATCH", 3)
    ids = [entry(clock, age=timedelta(days=800), object_id=n) for n in range(8)]
    kept = entry(clock, age=timedelta(days=10))
    assert run_tick(clock).jobs["retention"] == 8
    assert all(details(i) == {} for i in ids)
    assert details(kept) == DETAILS
    assert run_tick(clock).jobs["retention"] == 0


def test_two_workers_one_after_the_other_change_nothing_twice(app, clock):
    from schiller40.worker.runner import tick

    old = entry(clock, age=timedelta(days=900))
    first = tick(clock=clock, worker="a")
    second = tick(clock=clock, worker="b")
    assert first.jobs["retention"] == 1 and second.jobs["retention"] == 0
    assert details(old) == {}


def test_deleted_members_booking_notes_are_cleared_the_bookings_stay(app, clock, factory):
    alive = factory.user()
    gone = factory.user(deleted_at=clock(), name="Gelöschtes Konto")
    kept = factory.booking(user=alive, note="Beamer bitte")
    stub = factory.booking(user=gone, note="Rollstuhlgerechter Tisch")
    stub_id, kept_id, gone_id = stub.id, kept.id, gone.id
    report = run_tick(clock)
    assert report.jobs["retention"] == 1
    db.session.expire_all()
    assert db.session.get(Booking, stub_id).note == ""
    assert db.session.get(Booking, stub_id).user_id == gone_id  # statistics keep it
    assert db.session.get(Booking, kept_id).note == "Beamer bitte"
    assert run_tick(clock).jobs["retention"] == 0
    assert db.session.scalar(select(Booking.id).where(Booking.note != "")) == kept_id


@pytest.mark.parametrize("days", [0, 29, 3651, "730", True])
def test_retention_setting_is_checked_at_start(database_url, days):
    with pytest.raises(ConfigError, match="AUDIT_DETAILS_RETENTION_DAYS"):
        create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url,
                    "AUDIT_DETAILS_RETENTION_DAYS": days})


def test_a_later_pass_searches_only_what_came_of_age_since(app, clock):
    """After a complete pass, the next one looks only at entries that crossed the cutoff
    since; a new process (no memory) searches everything again."""
    first = entry(clock, age=timedelta(days=731))
    run_tick(clock)
    assert details(first) == {}
    # Back-dated behind the last cutoff (does not happen in operation): not searched again...
    hidden = entry(clock, age=timedelta(days=740))
    clock.advance(timedelta(hours=1))
    crossing = entry(clock, age=timedelta(days=730, minutes=30))
    assert run_tick(clock).jobs["retention"] == 1
    assert details(crossing) == {}
    assert details(hidden) == DETAILS
    # ...until a process without that memory starts.
    app.extensions.pop(jobs._RETENTION_DONE_UNTIL)
    assert run_tick(clock).jobs["retention"] == 1
    assert details(hidden) == {}
