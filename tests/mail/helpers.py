"""Helpers of the mail and worker tests (the shared ones are in tests/helpers.py)."""

from __future__ import annotations

import vobject

from schiller40.extensions import db
from schiller40.worker.runner import TickReport, tick

from ..mailbox import attachments


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
