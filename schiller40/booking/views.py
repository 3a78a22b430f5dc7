"""Booking a space from the web, as a member: the availability grid (a day or a week per
kind, free and taken at a glance), "any free desk", the booking form with the price and what
the tier includes shown before confirming, the waiting list, My bookings and rescheduling.

Everything works without JavaScript (``static/js/grid.js`` only adds arrow keys to the grid).
Views parse input, call one service or query and render; the rules live in the engine.
"""

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
from flask_babel import format_date, format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, HiddenField, SelectField, StringField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..core.clock import now
from ..core.forms import MAX_AHEAD_DAYS, bookable_day, no_nul
from ..core.ratelimit import configured
from ..core.time import to_local
from ..core.urls import safe_redirect_target
from ..errors import NotFound
from ..extensions import db, limiter
from ..payments.errors import PaymentError
from ..resources.models import BookingUnit, Resource, ResourceKind
from . import anydesk, checkin, grid, queries, snapshots, waitlist
from .create import create_bookings
from .errors import BookingError
from .models import Booking
from .requests import BookingOutcome, BookingRequest
from .reschedule import reschedule as reschedule_booking
from .rules import Interval
from .settings import BookingSettings, from_config

bp = Blueprint("booking", __name__)

PAST_WINDOW = timedelta(days=92)
KINDS = {k.value: k for k in ResourceKind}
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


class RescheduleForm(BookingForm):
    note = None  # a move keeps the booking's note
    resource = SelectField(_l("Space"), validate_choice=True)


class AvailabilityForm(FlaskForm):
    """The grid's date picker: a GET form (no CSRF token: it changes nothing)."""

    class Meta:
        csrf = False

    kind = SelectField(
        _l("Kind of space"), default="desk", validate_choice=False,
        choices=[SelectChoice("desk", _l("Desks")), SelectChoice("studio", _l("Studios")),
                 SelectChoice("room", _l("Meeting rooms"))],
    )
    view = SelectField(
        _l("View"), default="day", validate_choice=False,
        choices=[SelectChoice("day", _l("Day")), SelectChoice("week", _l("Week"))],
    )
    day = DateField(_l("Date"), validators=[Optional()])


class AnyDeskForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired(_l("Please choose a date.")),
                                            bookable_day])
    part = SelectField(_l("Time of day"), choices=PART_CHOICES)
    zone = SelectField(_l("Preferred zone (optional)"), default="", validate_choice=True)


def _resource(slug: str) -> Resource:
    resource = db.session.scalar(select(Resource).where(Resource.slug == slug))
    if resource is None or not resource.is_active:
        raise NotFound()
    return resource


def _is_desk(resource: Resource) -> bool:
    return grid.is_desk(resource)


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
    if _is_desk(resource) and form.day.data and form.start.data and form.end.data:
        rules = snapshots.location_rules(resource.location, {form.day.data.year})
        for part, unit in rules.desk_units(form.day.data).items():
            wall = (unit.start.astimezone(rules.tz).time(), unit.end.astimezone(rules.tz).time())
            if wall == (form.start.data, form.end.data):
                form.part.data = part


def _complete(form: BookingForm, resource: Resource) -> bool:
    """Whether a prefilled form names a whole slot (worth previewing at once)."""
    if form.day.data is None:
        return False
    if _is_desk(resource):
        return bool(form.part.data) or resource.booking_unit is BookingUnit.DAY
    return form.start.data is not None and form.end.data is not None


def _alternative_links(
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
            else url_for("booking.reschedule", booking_id=booking_id,
                         resource=alt["resource"], **args)
        )
        links.append({"name": names.get(alt["resource"], alt["resource"]),
                      "start": start, "end": end, "url": url})
    return links


def _after_booking(outcome: BookingOutcome, message: str | None = None) -> Response:
    """Confirmed: to the booking. Something to pay: straight on to the checkout."""
    booking = outcome.bookings[0]
    if outcome.payment is None:
        flash(message or _("Booked. See you at Schiller40!"), "success")
        return redirect(url_for("payments.booking_detail", booking_id=booking.id))
    from ..payments.views import open_checkout

    if message:
        flash(message, "info")
    payment_id, booking_id = outcome.payment.id, booking.id
    try:
        payment = open_checkout(payment_id, str(get_locale() or "de"))
    except PaymentError as error:
        flash(error.message, "error")
        return redirect(url_for("payments.booking_detail", booking_id=booking_id))
    assert payment.checkout_url is not None
    return redirect(payment.checkout_url, code=303)


def _to_own_booking(error: BookingError) -> Response | None:
    """The form was sent again for a booking the member already has (a double click, the
    back button): show that booking rather than an error."""
    if error.code != "already_booked":
        return None
    flash(error.message, "info")
    return redirect(url_for("payments.booking_detail", booking_id=error.extra["booking_id"]))


def _clash(error: BookingError | None) -> dict[str, Any] | None:
    """The member's own desk booking a ``desk_limit`` refusal names, as a link for the form
    (the message says what to do; the link leads to the booking to cancel or change)."""
    if error is None or error.code != "desk_limit":
        return None
    details = error.extra.get("details", {})
    if "booking_id" not in details:
        return None  # a desk of the same request: nothing stored to link to
    return {
        "url": url_for("payments.booking_detail", booking_id=details["booking_id"]),
        "start": datetime.fromisoformat(details["booking_start"]),
        "end": datetime.fromisoformat(details["booking_end"]),
    }


def _settings() -> BookingSettings:
    return from_config(current_app.config)


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    """The cancellation terms of a kind of space (booking and confirmation pages), and local
    clock times for the grid's columns."""
    settings = _settings()

    def refund_steps(kind: ResourceKind) -> tuple:
        return tuple(settings.refund_policy.get(kind, ()))

    def credit_notice_hours(kind: ResourceKind) -> int:
        notice = settings.policy.credit_return_notice.get(kind, timedelta(0))
        return int(notice.total_seconds() // 3600)

    return {"refund_steps": refund_steps, "credit_notice_hours": credit_notice_hours,
            "format_time": format_time}


# --- availability --------------------------------------------------------------------------


def _horizon(instant: datetime) -> int:
    """How many days ahead the grid goes: the member's tier, else the most generous tier."""
    if current_user.is_authenticated and not current_user.is_staff:
        membership = current_user.active_membership(instant)
        if membership is not None:
            return membership.tier.booking_horizon_days
    return queries.longest_horizon(db.session)


def _render_availability(
    form: AvailabilityForm,
    *,
    any_form: AnyDeskForm | None = None,
    alternatives: list[dict[str, Any]] | None = None,
    status: int = 200,
    refusal: BookingError | None = None,
) -> tuple[str, int]:
    instant = now()
    today = to_local(instant).date()
    first, last = today - timedelta(days=1), today + timedelta(days=_horizon(instant))
    kind_value = form.kind.data if form.kind.data in KINDS else None
    if kind_value is None:
        form.kind.errors = [_("Please choose desks, studios or meeting rooms.")]
        form.kind.data = kind_value = "desk"
        status = 422
    if form.view.data not in ("day", "week"):
        form.view.errors = [_("Please choose the day or the week view.")]
        form.view.data = "day"
        status = 422
    if form.day.raw_data and form.day.raw_data[0] and form.day.data is None:
        form.day.errors = [_("Please enter a date like %(example)s.",
                             example=today.isoformat())]
        status = 422
    day = form.day.data or today
    if not first <= day <= last:
        form.day.errors = [_("Please choose a day from %(first)s to %(last)s.",
                             first=format_date(first, "medium"),
                             last=format_date(last, "medium"))]
        day = min(max(day, first), last)
        status = 422
    form.day.data = day
    kind = KINDS[kind_value]
    settings = _settings()
    staff = current_user.is_authenticated and current_user.is_staff
    notice = timedelta(0) if staff else settings.policy.min_notice.get(kind, timedelta(0))
    viewer_id = current_user.id if current_user.is_authenticated else None
    context: dict[str, Any] = {"kind": kind, "day": day, "today": today, "first": first,
                               "last": last, "form": form, "view": form.view.data}
    if form.view.data == "week":
        days = grid.week_of(day)
        locations = queries.occupancy(db.session, kind=kind, day=days[0], days=len(days),
                                      now=instant, viewer_id=viewer_id)
        context["week"] = grid.week_grid(kind, days, locations, now=instant, notice=notice,
                                         first=first, last=last)
        context["prev_day"] = days[0] - timedelta(days=7) if days[0] > first else None
        context["next_day"] = days[0] + timedelta(days=7) if days[-1] < last else None
    else:
        locations = queries.occupancy(db.session, kind=kind, day=day, days=1, now=instant,
                                      viewer_id=viewer_id)
        context["grid"] = grid.day_grid(kind, day, locations, now=instant, notice=notice)
        context["prev_day"] = day - timedelta(days=1) if day > first else None
        context["next_day"] = day + timedelta(days=1) if day < last else None
    if kind is ResourceKind.DESK and locations and current_user.is_authenticated:
        if any_form is None:
            any_form = AnyDeskForm(formdata=None, prefix="any", day=day, part="day")
        any_form.zone.choices = _zone_choices(locations)
        context["any_form"] = any_form
        context["member_allowance"] = queries.allowance(
            db.session, viewer=current_user, day=day, location=locations[0].location)
    context["alternatives"] = alternatives or []
    context["clash"] = _clash(refusal)
    return render_template("booking/availability.html", **context), status


def _zone_choices(locations: list[queries.Occupancy]) -> list[SelectChoice]:
    zones = sorted({r.zone for occ in locations for r in occ.resources if r.zone})
    return [SelectChoice("", _("No preference")), *(SelectChoice(z, z) for z in zones)]


@bp.get("/availability")
def availability() -> tuple[str, int]:
    """The grid. Public, like the list of spaces: who booked is never shown, only whether a
    slot is free; booking from it asks for the log-in."""
    return _render_availability(AvailabilityForm(request.args))


@bp.post("/availability/any-desk")
@login_required
def any_desk() -> Response | tuple[str, int]:
    """Book whichever desk is free (in the preferred zone if one is), through the engine."""
    form = AnyDeskForm(prefix="any")
    probe = queries.occupancy(db.session, kind=ResourceKind.DESK, day=now().date(), days=1,
                              now=now())
    form.zone.choices = _zone_choices(probe)
    grid_form = AvailabilityForm(formdata=None, kind="desk", view="day")
    alternatives: list[dict[str, Any]] = []
    refusal: BookingError | None = None
    if form.validate_on_submit() and probe:
        grid_form.day.data = form.day.data
        rules = snapshots.location_rules(probe[0].location, {form.day.data.year})
        units = rules.desk_units(form.day.data)
        part = form.part.data
        if part not in units:
            form.day.errors.append(_("Schiller40 is closed on this day.") if not units
                                   else _("This half day is not offered on this day."))
        else:
            try:
                done = anydesk.book_any_desk(
                    db.session, actor=current_user, start=units[part].start,
                    end=units[part].end, now=now(), settings=_settings(),
                    zone=form.zone.data or None,
                )
            except BookingError as error:
                if (to_own := _to_own_booking(error)) is not None:
                    return to_own
                form.form_errors.append(error.message)
                alternatives = _alternative_links(error.extra.get("alternatives", []))
                refusal = error
            else:
                booking = done.outcome.bookings[0]
                where = booking.resource.name + (
                    f" ({booking.resource.zone})" if booking.resource.zone else "")
                message = _("Booked for you: %(desk)s.", desk=where)
                if not done.in_zone:
                    message = _("No desk was free in %(zone)s. Booked for you instead: "
                                "%(desk)s.", zone=form.zone.data, desk=where)
                return _after_booking(done.outcome, message)
    elif form.day.data is not None:
        grid_form.day.data = form.day.data
    if not form.errors and not form.form_errors and not probe:
        form.form_errors.append(_("No desks are set up yet."))
    return _render_availability(grid_form, any_form=form, alternatives=alternatives,
                                status=422, refusal=refusal)


# --- my bookings and the waiting list ------------------------------------------------------


@bp.get("/bookings")
@login_required
def mine() -> str:
    """My bookings: what is coming (with what can be done about it), offers from the waiting
    list, and the last three months."""
    instant = now()
    settings = _settings()
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
    grace = checkin.grace_from_config(current_app.config)
    return render_template(
        "booking/mine.html", upcoming=upcoming, past=past, entries=entries, now=instant,
        checkin_state=lambda b: checkin.state(b, now=instant, grace=grace, staff=False),
    )


class CheckInForm(FlaskForm):
    next = HiddenField()


@bp.post("/bookings/<id:booking_id>/check-in")
@login_required
def check_in(booking_id: int) -> Response:
    """Check in (members: their own desk; staff: any booking on its day), then back to the
    page the button was on."""
    form = CheckInForm()
    target = safe_redirect_target(
        form.next.data, url_for("payments.booking_detail", booking_id=booking_id)
    )
    if not form.validate_on_submit():
        flash(_("The form had expired. Please try again."), "error")
        return redirect(target)
    try:
        booking = checkin.check_in(db.session, actor=current_user, booking_id=booking_id,
                                   now=now())
    except checkin.CheckInRefused as error:
        flash(error.message, "error")
    else:
        assert booking.checked_in_at is not None
        flash(_("Checked in at %(time)s.", time=format_time(booking.checked_in_at, "short")),
              "success")
    return redirect(target)


@bp.post("/waitlist/<id:entry_id>/accept")
@login_required
def accept_offer(entry_id: int) -> Response:
    try:
        outcome = waitlist.accept(db.session, actor=current_user, entry_id=entry_id,
                                  now=now(), settings=_settings())
    except BookingError as error:
        flash(error.message, "error")
        return redirect(url_for("booking.mine") + "#waitlist")
    return _after_booking(outcome)


@bp.post("/waitlist/<id:entry_id>/decline")
@login_required
def decline_offer(entry_id: int) -> Response:
    try:
        waitlist.decline(db.session, actor=current_user, entry_id=entry_id, now=now(),
                         settings=_settings())
    except BookingError as error:
        flash(error.message, "error")
    else:
        flash(_("Done: you are no longer on the waiting list for this time."), "success")
    return redirect(url_for("booking.mine") + "#waitlist")


# --- the booking form ----------------------------------------------------------------------


def _render_form(
    resource: Resource, form: BookingForm, *, preview: queries.Preview | None = None,
    wanted: Interval | None = None, alternatives: list[dict[str, Any]] | None = None,
    status: int = 200, refusal: BookingError | None = None,
) -> tuple[str, int]:
    instant = now()
    day = to_local(instant).date()
    if form.day.data is not None and abs((form.day.data - day).days) <= MAX_AHEAD_DAYS:
        day = form.day.data  # the month whose credit matters (a far-off date cannot be)
    tier, credit = (preview.tier, preview.credit) if preview else queries.allowance(
        db.session, viewer=current_user, day=day, location=resource.location)
    if preview is not None and preview.alternatives and not alternatives:
        alternatives = _alternative_links(preview.alternatives)
    waitable = bool(preview and preview.error and preview.error.code == "conflict")
    return render_template(
        "booking/new.html", resource=resource, form=form, desk=_is_desk(resource),
        alternatives=alternatives or [], preview=preview, wanted=wanted, tier=tier,
        credit=credit, credit_month=day, waitable=waitable, clash=_clash(refusal),
        preview_clash=_clash(preview.error if preview else None),
    ), status


@bp.route("/resources/<slug>/book", methods=["GET", "POST"])
@limiter.limit(configured("RATELIMIT_BOOKING"), methods=["POST"])
@login_required
def new(slug: str) -> Response | tuple[str, int]:
    """Choose, see the price, confirm. A link from the grid arrives with the slot filled in
    and its price shown; "Check price" shows it for what was typed; "Book" books."""
    resource = _resource(slug)
    form = BookingForm()
    if request.method == "GET":
        _prefill(form, resource)
        wanted = _wanted(form, resource) if _complete(form, resource) else None
        return _render_form(resource, form, wanted=wanted,
                            preview=_preview(resource, wanted) if wanted else None)
    alternatives: list[dict[str, Any]] = []
    if form.validate_on_submit():
        wanted = _wanted(form, resource)
        if wanted is not None and request.form.get("action") == "preview":
            preview = _preview(resource, wanted)
            return _render_form(resource, form, preview=preview, wanted=wanted,
                                status=422 if preview.error else 200)
        if wanted is not None:
            try:
                outcome = create_bookings(
                    db.session, actor=current_user, now=now(), settings=_settings(),
                    request=BookingRequest(
                        start=wanted.start, end=wanted.end, resource_slug=resource.slug,
                        note=(form.note.data or "").strip(),
                    ),
                )
            except BookingError as error:
                if (to_own := _to_own_booking(error)) is not None:
                    return to_own
                form.form_errors.append(error.message)
                alternatives = _alternative_links(error.extra.get("alternatives", []))
                if error.code == "conflict":
                    return _render_form(resource, form, wanted=wanted, status=422,
                                        alternatives=alternatives,
                                        preview=_preview(resource, wanted))
                return _render_form(resource, form, alternatives=alternatives, status=422,
                                    refusal=error)
            else:
                return _after_booking(outcome)
    return _render_form(resource, form, alternatives=alternatives, status=422)


def _preview(resource: Resource, wanted: Interval) -> queries.Preview:
    return queries.preview(db.session, viewer=current_user, resource=resource,
                           start=wanted.start, end=wanted.end, now=now(),
                           settings=_settings())


@bp.post("/resources/<slug>/waitlist")
@login_required
def join_waitlist(slug: str) -> Response | tuple[str, int]:
    """Queue for a taken slot; the form carries the slot as the booking form does."""
    resource = _resource(slug)
    form = BookingForm()
    if form.validate_on_submit():
        wanted = _wanted(form, resource)
        if wanted is not None:
            try:
                waitlist.join(db.session, actor=current_user, resource_slug=resource.slug,
                              start=wanted.start, end=wanted.end, now=now(),
                              settings=_settings())
            except BookingError as error:
                form.form_errors.append(error.message)
            else:
                flash(_("You are on the waiting list. If the time becomes free, it is offered "
                        "to you here and reserved for you for a while."), "success")
                return redirect(url_for("booking.mine") + "#waitlist")
    return _render_form(resource, form, status=422)


# --- rescheduling --------------------------------------------------------------------------


def _own_booking(booking_id: int) -> Booking:
    """The member's own booking; anyone else's (even for staff here) is not found."""
    booking = queries.get_booking(db.session, viewer=current_user, booking_id=booking_id)
    if booking.user_id != current_user.id:
        raise NotFound()
    return booking


@bp.route("/bookings/<id:booking_id>/reschedule", methods=["GET", "POST"])
@login_required
def reschedule(booking_id: int) -> Response | tuple[str, int]:
    """Move a booking to another time, or another space of the same kind."""
    booking = _own_booking(booking_id)
    instant = now()
    if not booking.can_reschedule(instant):
        flash(_("This booking can no longer be changed."), "info")
        return redirect(url_for("payments.booking_detail", booking_id=booking_id))
    current = booking.resource
    siblings = list(db.session.scalars(
        select(Resource).where(Resource.location_id == current.location_id,
                               Resource.kind == current.kind, Resource.is_active.is_(True))
        .order_by(Resource.zone, Resource.position, Resource.name)
    ))
    form = RescheduleForm()
    form.resource.choices = [SelectChoice(r.slug, r.name + (f" ({r.zone})" if r.zone else ""))
                             for r in siblings]
    alternatives: list[dict[str, Any]] = []
    status = 200
    if request.method == "GET":
        tz = current.location.tz
        start, end = booking.starts_at.astimezone(tz), booking.ends_at.astimezone(tz)
        form.day.data, form.start.data, form.end.data = start.date(), start.time(), end.time()
        form.resource.data = current.slug
        units = snapshots.location_rules(current.location, {start.year}).desk_units(
            start.date())
        form.part.data = next((p for p, u in units.items()
                               if (u.start, u.end) == (booking.starts_at, booking.ends_at)),
                              "day")
        _prefill(form, current)
        if request.args.get("resource") in {r.slug for r in siblings}:
            form.resource.data = request.args["resource"]
    elif form.validate_on_submit():
        target = next(r for r in siblings if r.slug == form.resource.data)
        wanted = _wanted(form, target)
        if wanted is not None:
            try:
                moved = reschedule_booking(
                    db.session, actor=current_user, booking_id=booking_id,
                    start=wanted.start, end=wanted.end, now=instant, settings=_settings(),
                    resource_slug=target.slug,
                )
            except BookingError as error:
                form.form_errors.append(error.message)
                alternatives = _alternative_links(error.extra.get("alternatives", []),
                                                  booking_id=booking_id)
            else:
                flash(_("Your booking has been moved."), "success")
                return redirect(url_for("payments.booking_detail", booking_id=moved.id))
        status = 422
    else:
        status = 422
    booking = _own_booking(booking_id)  # fresh after a refused attempt's rollback
    return render_template(
        "booking/reschedule.html", booking=booking, form=form, desk=_is_desk(booking.resource),
        alternatives=alternatives,
    ), status
