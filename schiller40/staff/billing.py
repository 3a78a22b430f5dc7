"""``/staff/past-due``: members whose monthly fee is unpaid (past due or suspended), with
what is open, the dunning stage and its dates; each links to the member's page, which shows
the subscription's state and periods (``templates/staff/_subscription.html``)."""

from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l

from ..billing.past_due import past_due, past_due_count
from ..billing.settings import current_billing
from ..extensions import db
from . import bp, section, staff_required

section(_l("Past due"), "staff.past_due_list",
        _l("Members whose monthly fee is unpaid: amount open, dunning stage, next retry and "
           "suspension date."),
        order=22, count=lambda: past_due_count(db.session))


@bp.get("/past-due")
@staff_required
def past_due_list() -> str:
    rows = past_due(db.session, policy=current_billing().policy)
    return render_template("staff/past_due.html", rows=rows)

