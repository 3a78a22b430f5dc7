"""Desks of one day for staff: who booked which desk, who is checked in, whose desk was
released as a no-show; a check-in button per booking (the front desk's list).

Read in three queries (bookings, their members, their desks), however many desks there are.
Checking in goes through ``members.booking_pages.check_in`` (one service,
``booking.checkin``).
"""

from __future__ import annotations

from datetime import date, time, timedelta

from flask import render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import Optional

from ..booking import checkin
from ..booking.rules import Interval
from ..booking.settings import current_settings
from ..core.clock import now
from ..core.time import local_datetime, to_local
from ..extensions import db
from . import bp, section, staff_required

MAX_DAYS = 730

section(_l("Desks today"), "staff.desks",
        _l("Today's desk bookings at a glance: who is checked in, whose desk is due for "
           "release, and a check-in button for the front desk."), order=12)


class DayForm(FlaskForm):
    """The day picker: a GET form (no CSRF token: it changes nothing)."""

    class Meta:
        csrf = False

    day = DateField(_l("Date"), validators=[Optional()])


@bp.get("/desks")
@staff_required
def desks() -> tuple[str, int]:
    instant = now()
    today = to_local(instant).date()
    form = DayForm(request.args)
    status = 200
    if not form.validate() or (form.day.raw_data and form.day.raw_data[0]
                               and form.day.data is None):
        form.day.errors = [_("Please enter a date like %(example)s.", example=today.isoformat())]
        form.day.data = None
        status = 422
    day: date = form.day.data or today
    if abs((day - today).days) > MAX_DAYS:
        form.day.errors = [_("Please choose a date within two years of today.")]
        day, status = today, 422
    form.day.data = day
    window = Interval(local_datetime(day, time(0)), local_datetime(day + timedelta(days=1),
                                                                   time(0)))
    listing = checkin.desk_day(db.session, window)
    grace = current_settings().checkin_grace
    return render_template(
        "staff/calendar_desks.html", form=form, day=day, today=today, listing=listing,
        now=instant, day_label=format_date(day, "full"),
        prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
        checkin_state=lambda b: checkin.state(b, now=instant, grace=grace, staff=True),
    ), status
