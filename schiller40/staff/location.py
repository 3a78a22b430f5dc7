"""Staff pages for the location: weekly opening hours and closure days.

A closure over existing bookings is allowed, but only after staff saw the bookings it
touches: the first submit lists them and asks again; the bookings themselves are not
cancelled here, because whether to refund is decided per booking (staff cancel them from
the booking's page, which offers the refund).
"""

from __future__ import annotations

from datetime import time
from typing import Any

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    StringField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, Optional

from ..core.clock import now
from ..core.forms import no_nul
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..resources.models import Closure, Location
from ..venue import admin
from . import bp, section, staff_required


class DayForm(Form):
    """One weekday: closed, or open from one time to another. One period a day, because
    the engine books a desk's day or half day inside one opening period."""

    closed = BooleanField(_l("Closed all day"))
    opens = TimeField(_l("Opens"), validators=[Optional()])
    closes = TimeField(_l("Closes"), validators=[Optional()])

    def periods(self) -> list[tuple[time, time]] | None:
        """The day's period (none if closed), or None after putting a message beside a
        missing time."""
        if self.closed.data:
            return []
        ok = True
        for f in (self.opens, self.closes):
            if f.data is None and not f.errors:
                f.errors = [*f.errors, _("Please enter a time, or mark the day as closed.")]
            if f.data is None:
                ok = False
        return [(self.opens.data, self.closes.data)] if ok else None


class HoursForm(FlaskForm):
    days = FieldList(FormField(DayForm), min_entries=7, max_entries=7)
    half_day_split = TimeField(
        _l("Desk half days split at"),
        description=_l("Morning bookings of desks end and afternoon bookings begin here."),
        validators=[InputRequired(_l("Please enter a time."))],
    )


class ClosureForm(FlaskForm):
    first_day = DateField(_l("First closed day"), validators=[Optional()])
    last_day = DateField(_l("Last closed day"), validators=[Optional()])
    reason = StringField(
        _l("Reason"), description=_l("Members see it, e.g. “Winter break”."),
        validators=[Length(max=200), no_nul],
    )
    confirmed = HiddenField()


class EmptyForm(FlaskForm):
    """Only the CSRF token (delete buttons)."""


def _location(location_id: int) -> Location:
    location = db.session.get(Location, location_id)
    if location is None:
        raise NotFound()
    return location


def _fill_hours(form: HoursForm, location: Location) -> None:
    by_day: dict[int, list[tuple[time, time]]] = {}
    for row in location.opening_hours:
        by_day.setdefault(row.weekday, []).append((row.opens, row.closes))
    for weekday, entry in enumerate(form.days):
        periods = sorted(by_day.get(weekday, []))
        day: Any = entry.form
        day.closed.data = not periods
        if periods:  # one period a day; rows written elsewhere with more show their span
            day.opens.data, day.closes.data = periods[0][0], periods[-1][1]
    form.half_day_split.data = location.half_day_split


def _render(
    location: Location, *, hours: HoursForm | None = None, closure: ClosureForm | None = None,
    affected: list[admin.AffectedBooking] | None = None, status: int = 200,
) -> tuple[str, int]:
    if hours is None:
        hours = HoursForm()
        _fill_hours(hours, location)
    closures = [
        (c, admin.bookings_on_days(db.session, location, c.first_day, c.last_day))
        for c in location.closures
    ]
    today = now().astimezone(location.tz).date()
    others = db.session.scalars(select(Location).order_by(Location.name)).all()
    return render_template(
        "staff/location.html", location=location, hours=hours,
        closure=closure or ClosureForm(formdata=None), closures=closures, affected=affected,
        today=today, locations=others,
        outside=admin.bookings_outside_hours(db.session, location, now()),
    ), status


@bp.get("/location")
@staff_required
def location() -> Response | tuple[str, int]:
    """The (first) location's page; with several locations, each has its own address."""
    first = db.session.scalar(select(Location).order_by(Location.name).limit(1))
    if first is None:
        return render_template("staff/location_none.html"), 200
    return redirect(url_for("staff.location_page", location_id=first.id))


@bp.get("/locations/<id:location_id>")
@staff_required
def location_page(location_id: int) -> tuple[str, int]:
    return _render(_location(location_id))


@bp.post("/locations/<id:location_id>/hours")
@staff_required
def location_hours(location_id: int) -> Response | tuple[str, int]:
    location = _location(location_id)
    form = HoursForm()
    if form.validate_on_submit():
        hours: dict[int, list[tuple[time, time]]] = {}
        complete = True
        for weekday, entry in enumerate(form.days):
            periods = entry.form.periods()
            if periods is None:
                complete = False
            else:
                hours[weekday] = periods
        if complete:
            try:
                _location_row, outside = admin.set_opening_hours(
                    db.session, location_id=location.id, hours=hours,
                    half_day_split=form.half_day_split.data, actor=current_user, now=now(),
                )
            except InvalidInput as error:
                for key, messages in error.fields.items():
                    weekday = int(key.split("-")[1]) if key.startswith("day-") else -1
                    if 0 <= weekday < len(form.days):
                        target = form.days[weekday].form.closes
                        target.errors = [*target.errors, *messages]
                    else:
                        form.form_errors.extend(messages)
                if not error.fields:
                    form.form_errors.append(error.message)
            else:
                flash(_("The opening hours were saved. They apply to new bookings; "
                        "bookings already made are not moved."), "success")
                if outside:
                    flash(ngettext(
                        "%(num)d upcoming booking is outside the opening hours: see the list "
                        "below.",
                        "%(num)d upcoming bookings are outside the opening hours: see the "
                        "list below.",
                        len(outside),
                    ), "error")
                return redirect(url_for("staff.location_page", location_id=location.id))
    location = _location(location_id)
    return _render(location, hours=form, status=422)


@bp.post("/locations/<id:location_id>/closures")
@staff_required
def closure_add(location_id: int) -> Response | tuple[str, int]:
    location = _location(location_id)
    form = ClosureForm()
    affected = None
    if form.validate_on_submit():
        try:
            _closure, affected = admin.add_closure(
                db.session, location_id=location.id, first_day=form.first_day.data,
                last_day=form.last_day.data, reason=form.reason.data or "",
                actor=current_user, now=now(), confirmed=form.confirmed.data == "1",
            )
        except admin.ClosureOverBookings as warning:
            form.confirmed.data = "1"
            return _render(_location(location_id), closure=form, affected=warning.affected,
                           status=409)
        except InvalidInput as error:
            for name, messages in error.fields.items():
                field = getattr(form, name, None)
                if field is not None:
                    field.errors = [*field.errors, *messages]
                else:
                    form.form_errors.extend(messages)
            if not error.fields:
                form.form_errors.append(error.message)
        else:
            if affected:
                flash(ngettext(
                    "The closure was added. %(num)d booking remains on these days: "
                    "please cancel it (listed below the closure).",
                    "The closure was added. %(num)d bookings remain on these days: "
                    "please cancel them (listed below the closure).",
                    len(affected),
                ), "success")
            else:
                flash(_("The closure was added. Nobody can book on these days."), "success")
            return redirect(url_for("staff.location_page", location_id=location.id) + "#closures")
    form.confirmed.data = ""
    return _render(_location(location_id), closure=form, status=422)


@bp.post("/closures/<id:closure_id>/delete")
@staff_required
def closure_delete(closure_id: int) -> Response:
    closure = db.session.get(Closure, closure_id)
    if closure is None:
        raise NotFound()
    location_id = closure.location_id
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
    else:
        admin.remove_closure(db.session, closure_id=closure_id, actor=current_user, now=now())
        flash(_("The closure was removed: these days can be booked again."), "success")
    return redirect(url_for("staff.location_page", location_id=location_id) + "#closures")


section(
    _l("Opening hours and closures"), "staff.location",
    _l("Weekly opening hours, the desk half-day split, and days the location is closed."),
    order=45,
)
