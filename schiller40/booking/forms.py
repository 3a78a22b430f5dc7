"""The booking form, and reading it: the range it asks for, filling it in from a link, and
links that open it again with an alternative.

Shared by the pages for booking a space (``views.py``) and for moving a booking
(``members/booking_pages.py``, whose form adds a choice of space to this one).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from flask import request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..core.clock import now
from ..core.forms import MAX_AHEAD_DAYS, bookable_day, no_nul
from ..extensions import db
from ..resources.models import BookingUnit, Resource
from . import snapshots
from .grid import is_desk
from .rules import Interval

PART_CHOICES = [
    SelectChoice("day", _l("Whole day")),
    SelectChoice("morning", _l("Morning (until 13:00)")),
    SelectChoice("afternoon", _l("Afternoon (from 13:00)")),
]


class BookingForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired(_l("Please choose a date.")),
                                            bookable_day])
    part = SelectField(_l("Time of day"), choices=PART_CHOICES, validators=[Optional()])
    start = TimeField(_l("From"), validators=[Optional()])
    end = TimeField(_l("Until"), validators=[Optional()])
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=500), no_nul])


def wanted(form: BookingForm, resource: Resource) -> Interval | None:
    """The range the form asks for, or None with a message beside the field at fault."""
    day: date = form.day.data
    rules = snapshots.location_rules(resource.location, {day.year})
    if is_desk(resource):
        units = rules.desk_units(day)
        part = form.part.data or "day"
        if resource.booking_unit is BookingUnit.DAY:
            part = "day"
        if part not in units:
            form.day.errors.append(_("Schiller40 is closed on this day.") if not units
                                   else _("This half day is not offered on this day."))
            return None
        return units[part]
    if form.start.data is None or form.end.data is None:
        for f in (form.start, form.end):
            if f.data is None:
                f.errors.append(_("Please enter a time."))
        return None
    if form.end.data <= form.start.data:
        form.end.errors.append(_("The end must be after the start."))
        return None
    return Interval(rules.local(day, form.start.data), rules.local(day, form.end.data))


def prefill(form: BookingForm, resource: Resource) -> None:
    """From the query string (links from the grid and to alternatives):
    ?day=YYYY-MM-DD&part=morning, or ?day=...&start=HH:MM&end=HH:MM."""
    try:
        if request.args.get("day"):
            day = date.fromisoformat(request.args["day"])
            if abs((day - now().date()).days) <= MAX_AHEAD_DAYS:
                form.day.data = day
        for name in ("start", "end"):
            raw = request.args.get(name)
            if raw:
                getattr(form, name).data = time.fromisoformat(raw)
    except ValueError:
        return  # a mangled link: an empty form is the honest answer
    if request.args.get("part") in ("day", "morning", "afternoon"):
        form.part.data = request.args["part"]
    if is_desk(resource) and form.day.data and form.start.data and form.end.data:
        rules = snapshots.location_rules(resource.location, {form.day.data.year})
        for part, unit in rules.desk_units(form.day.data).items():
            wall = (unit.start.astimezone(rules.tz).time(), unit.end.astimezone(rules.tz).time())
            if wall == (form.start.data, form.end.data):
                form.part.data = part


def alternative_links(
    alternatives: list[dict[str, Any]], *, booking_id: int | None = None
) -> list[dict[str, Any]]:
    """Links for the engine's alternatives: to the booking form, or (moving a booking) to
    the reschedule form with the other space chosen."""
    slugs = {alt["resource"] for alt in alternatives}
    names = dict(db.session.execute(
        select(Resource.slug, Resource.name).where(Resource.slug.in_(slugs))
    ).all()) if slugs else {}
    links = []
    for alt in alternatives:
        start, end = datetime.fromisoformat(alt["start"]), datetime.fromisoformat(alt["end"])
        args = dict(day=start.date().isoformat(), start=start.strftime("%H:%M"),
                    end=end.strftime("%H:%M"))
        url = (
            url_for("booking.new", slug=alt["resource"], **args) if booking_id is None
            else url_for("bookings.reschedule", booking_id=booking_id,
                         resource=alt["resource"], **args)
        )
        links.append({"name": names.get(alt["resource"], alt["resource"]),
                      "start": start, "end": end, "url": url})
    return links
