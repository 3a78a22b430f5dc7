"""Shared helpers for the mail and worker tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import vobject

from schiller40.booking.create import create_bookings
from schiller40.booking.requests import BookingRequest
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from schiller40.worker.runner import TickReport, tick

from ..mailbox import attachments

TUE = date(2026, 11, 24)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm)).replace(tzinfo=BERLIN).astimezone(UTC)


def book(member, clock, **kw):
    return create_bookings(
        db.session, actor=member, request=BookingRequest(**kw), now=clock()
    )


def run_tick(clock) -> TickReport:
    """One worker pass, as `flask tick` makes it, with the test's clock."""
    db.session.commit()
    report = tick(clock=clock)
    assert not report.job_errors, report.job_errors
    return report


def invitation(message) -> vobject.base.Component:
    """The single calendar attachment of a mail, parsed back by an independent parser."""
    found = attachments(message)
    assert len(found) == 1, f"{len(found)} calendar attachments"
    data, part = found[0]
    calendar = vobject.readOne(data.decode())
    assert part.get_param("method") == calendar.method.value
    return calendar
