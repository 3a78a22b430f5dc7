"""Booking a space from the web: a form per resource (a day and a time, or for desks a half
or whole day). A paid booking goes straight on to the checkout. The full availability grid
comes with the web application; this page is the core flow and works without JavaScript."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..core.clock import now
from ..core.forms import no_nul
from ..errors import NotFound
from ..extensions import db
from ..payments.ledger import cancellable
from ..payments.service import PaymentError
from ..resources.models import BookingUnit, Resource
from . import queries, service, snapshots, waitlist
from .errors import BookingError
from .rules import Interval
from .settings import from_config

bp = Blueprint("booking", __name__)

MAX_AHEAD_DAYS = 730
PAST_WINDOW = timedelta(days=92)


class BookingForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired(_l("Please choose a date."))])
    part = SelectField(
        _l("Time of day"),
        choices=[
            SelectChoice("day", _l("Whole day")),
            SelectChoice("morning", _l("Morning (until 13:00)")),
            SelectChoice("afternoon", _l("Afternoon (from 13:00)")),
        ],
        validators=[Optional()],
    )
    start = TimeField(_l("From"), validators=[Optional()])
    end = TimeField(_l("Until"), validators=[Optional()])
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=500), no_nul])

    def validate_day(self, field: DateField) -> None:
        """Only dates the engine could ever book: far-off years would overflow the time
        arithmetic (and no tier books more than a year ahead)."""
        today = now().date()
        if field.data is not None and not (
            today - timedelta(days=1) <= field.data <= today + timedelta(days=MAX_AHEAD_DAYS)
        ):
            raise ValidationError(_l("Please choose a date within the next two years."))


def _resource(slug: str) -> Resource:
    resource = db.session.scalar(select(Resource).where(Resource.slug == slug))
    if resource is None or not resource.is_active:
        raise NotFound()
    return resource


def _is_desk(resource: Resource) -> bool:
    return resource.booking_unit in (BookingUnit.HALF_DAY, BookingUnit.DAY)


def _wanted(form: BookingForm, resource: Resource) -> Interval | None:
    """The range the form asks for, or None with a message beside the field at fault."""
    day: date = form.day.data
    rules = snapshots.location_rules(resource.location, {day.year})
    if _is_desk(resource):
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


def _prefill(form: BookingForm, resource: Resource) -> None:
    """From the query string (links to alternatives): ?day=...&start=HH:MM&end=HH:MM."""
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
    if _is_desk(resource) and form.day.data and form.start.data and form.end.data:
        rules = snapshots.location_rules(resource.location, {form.day.data.year})
        for part, unit in rules.desk_units(form.day.data).items():
            wall = (unit.start.astimezone(rules.tz).time(), unit.end.astimezone(rules.tz).time())
            if wall == (form.start.data, form.end.data):
                form.part.data = part


def _alternative_links(alternatives: list[dict[str, Any]]) -> list[dict[str, str]]:
    links = []
    for alt in alternatives:
        start, end = datetime.fromisoformat(alt["start"]), datetime.fromisoformat(alt["end"])
        resource = db.session.scalar(select(Resource).where(Resource.slug == alt["resource"]))
        links.append({
            "name": resource.name if resource else alt["resource"],
            "start": start, "end": end,
            "url": url_for("booking.new", slug=alt["resource"], day=start.date().isoformat(),
                           start=start.strftime("%H:%M"), end=end.strftime("%H:%M")),
        })
    return links


def _after_booking(outcome: service.BookingOutcome) -> Response:
    """Confirmed: to the booking. Something to pay: straight on to the checkout."""
    booking = outcome.bookings[0]
    if outcome.payment is None:
        flash(_("Booked. See you at Schiller40!"), "success")
        return redirect(url_for("payments.booking_detail", booking_id=booking.id))
    from ..payments.views import open_checkout

    payment_id, booking_id = outcome.payment.id, booking.id
    try:
        payment = open_checkout(payment_id, str(get_locale() or "de"))
    except PaymentError as error:
        flash(error.message, "error")
        return redirect(url_for("payments.booking_detail", booking_id=booking_id))
    assert payment.checkout_url is not None
    return redirect(payment.checkout_url, code=303)


@bp.get("/bookings")
@login_required
def mine() -> str:
    """My bookings: what is coming (with what can be done about it), offers from the waiting
    list, and the last three months."""
    instant = now()
    settings = from_config(current_app.config)
    entries = [
        e for e in waitlist.list_entries(db.session, actor=current_user, now=instant,
                                         settings=settings)
        if e.is_open
    ]
    upcoming = queries.list_bookings(db.session, viewer=current_user, now=instant,
                                     user_id=current_user.id, limit=200)
    past = queries.list_bookings(
        db.session, viewer=current_user, now=instant, user_id=current_user.id,
        start=instant - PAST_WINDOW, end=instant, limit=200,
    )
    past = [b for b in reversed(past) if b.ends_at <= instant]
    return render_template(
        "booking/mine.html", upcoming=upcoming, past=past, entries=entries, now=instant,
        cancellable=lambda b: cancellable(b, by_staff=False, now=instant),
    )


@bp.post("/waitlist/<id:entry_id>/accept")
@login_required
def accept_offer(entry_id: int) -> Response:
    settings = from_config(current_app.config)
    try:
        outcome = waitlist.accept(db.session, actor=current_user, entry_id=entry_id,
                                  now=now(), settings=settings)
    except BookingError as error:
        flash(error.message, "error")
        return redirect(url_for("booking.mine") + "#waitlist")
    return _after_booking(outcome)


@bp.post("/waitlist/<id:entry_id>/decline")
@login_required
def decline_offer(entry_id: int) -> Response:
    try:
        waitlist.decline(db.session, actor=current_user, entry_id=entry_id, now=now(),
                         settings=from_config(current_app.config))
    except BookingError as error:
        flash(error.message, "error")
    else:
        flash(_("Done: you are no longer on the waiting list for this time."), "success")
    return redirect(url_for("booking.mine") + "#waitlist")


@bp.route("/resources/<slug>/book", methods=["GET", "POST"])
@login_required
def new(slug: str) -> str | Response | tuple[str, int]:
    resource = _resource(slug)
    form = BookingForm()
    if request.method == "GET":
        _prefill(form, resource)
    alternatives: list[dict[str, str]] = []
    if form.validate_on_submit():
        wanted = _wanted(form, resource)
        if wanted is not None:
            settings = from_config(current_app.config)
            try:
                outcome = service.create_bookings(
                    db.session, actor=current_user, now=now(), settings=settings,
                    request=service.BookingRequest(
                        start=wanted.start, end=wanted.end, resource_slug=resource.slug,
                        note=(form.note.data or "").strip(),
                    ),
                )
            except BookingError as error:
                form.form_errors.append(error.message)
                alternatives = _alternative_links(error.extra.get("alternatives", []))
            else:
                return _after_booking(outcome)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "booking/new.html", resource=resource, form=form, desk=_is_desk(resource),
        alternatives=alternatives,
    ), status
