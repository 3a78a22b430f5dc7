"""Booking a space from the web, as a member: the availability grid (a day or a week per
kind, free and taken at a glance), "any free desk", the booking form with the price and what
the tier includes shown before confirming, and the waiting list. My bookings, a booking's
page and moving a booking are in ``members/booking_pages.py``.

Everything works without JavaScript (``static/js/grid.js`` only adds arrow keys to the grid).
Views parse input, call one service or query and render; the rules live in the engine.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
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
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Optional

from ..core.clock import now
from ..core.forms import MAX_AHEAD_DAYS, bookable_day
from ..core.ratelimit import configured
from ..core.time import to_local
from ..errors import NotFound
from ..extensions import db, limiter
from ..payments.checkout_urls import open_checkout
from ..payments.errors import PaymentError
from ..resources.models import BookingUnit, Resource, ResourceKind
from . import anydesk, forms, grid, queries, snapshots, waitlist
from .create import create_bookings
from .errors import BookingError
from .forms import PART_CHOICES, BookingForm
from .requests import BookingOutcome, BookingRequest
from .rules import Interval
from .settings import current_settings

bp = Blueprint("booking", __name__)

KINDS = {k.value: k for k in ResourceKind}


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


def _complete(form: BookingForm, resource: Resource) -> bool:
    """Whether a prefilled form names a whole slot (worth previewing at once)."""
    if form.day.data is None:
        return False
    if _is_desk(resource):
        return bool(form.part.data) or resource.booking_unit is BookingUnit.DAY
    return form.start.data is not None and form.end.data is not None


def _after_booking(outcome: BookingOutcome, message: str | None = None) -> Response:
    """Confirmed: to the booking. Something to pay: straight on to the checkout."""
    booking = outcome.bookings[0]
    if outcome.payment is None:
        flash(message or _("Booked. See you at Schiller40!"), "success")
        return redirect(url_for("bookings.booking_detail", booking_id=booking.id))
    if message:
        flash(message, "info")
    payment_id, booking_id = outcome.payment.id, booking.id
    try:
        payment = open_checkout(payment_id, str(get_locale() or "de"))
    except PaymentError as error:
        flash(error.message, "error")
        return redirect(url_for("bookings.booking_detail", booking_id=booking_id))
    assert payment.checkout_url is not None
    return redirect(payment.checkout_url, code=303)


def _to_own_booking(error: BookingError) -> Response | None:
    """The form was sent again for a booking the member already has (a double click, the
    back button): show that booking rather than an error."""
    if error.code != "already_booked":
        return None
    flash(error.message, "info")
    return redirect(url_for("bookings.booking_detail", booking_id=error.extra["booking_id"]))


def _clash(error: BookingError | None) -> dict[str, Any] | None:
    """The member's own desk booking a ``desk_limit`` refusal names, as a link for the form
    (the message says what to do; the link leads to the booking to cancel or change)."""
    if error is None or error.code != "desk_limit":
        return None
    details = error.extra.get("details", {})
    if "booking_id" not in details:
        return None  # a desk of the same request: nothing stored to link to
    return {
        "url": url_for("bookings.booking_detail", booking_id=details["booking_id"]),
        "start": datetime.fromisoformat(details["booking_start"]),
        "end": datetime.fromisoformat(details["booking_end"]),
    }


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    """The cancellation terms of a kind of space (booking and confirmation pages), and local
    clock times for the grid's columns."""
    settings = current_settings()

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
    settings = current_settings()
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
                    end=units[part].end, now=now(), settings=current_settings(),
                    zone=form.zone.data or None,
                )
            except BookingError as error:
                if (to_own := _to_own_booking(error)) is not None:
                    return to_own
                form.form_errors.append(error.message)
                alternatives = forms.alternative_links(error.extra.get("alternatives", []))
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


# --- the waiting list ----------------------------------------------------------------------


@bp.post("/waitlist/<id:entry_id>/accept")
@login_required
def accept_offer(entry_id: int) -> Response:
    try:
        outcome = waitlist.accept(db.session, actor=current_user, entry_id=entry_id,
                                  now=now(), settings=current_settings())
    except BookingError as error:
        flash(error.message, "error")
        return redirect(url_for("bookings.mine") + "#waitlist")
    return _after_booking(outcome)


@bp.post("/waitlist/<id:entry_id>/decline")
@login_required
def decline_offer(entry_id: int) -> Response:
    try:
        waitlist.decline(db.session, actor=current_user, entry_id=entry_id, now=now(),
                         settings=current_settings())
    except BookingError as error:
        flash(error.message, "error")
    else:
        flash(_("Done: you are no longer on the waiting list for this time."), "success")
    return redirect(url_for("bookings.mine") + "#waitlist")


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
        alternatives = forms.alternative_links(preview.alternatives)
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
        forms.prefill(form, resource)
        wanted = forms.wanted(form, resource) if _complete(form, resource) else None
        return _render_form(resource, form, wanted=wanted,
                            preview=_preview(resource, wanted) if wanted else None)
    alternatives: list[dict[str, Any]] = []
    if form.validate_on_submit():
        wanted = forms.wanted(form, resource)
        if wanted is not None and request.form.get("action") == "preview":
            preview = _preview(resource, wanted)
            return _render_form(resource, form, preview=preview, wanted=wanted,
                                status=422 if preview.error else 200)
        if wanted is not None:
            try:
                outcome = create_bookings(
                    db.session, actor=current_user, now=now(), settings=current_settings(),
                    request=BookingRequest(
                        start=wanted.start, end=wanted.end, resource_slug=resource.slug,
                        note=(form.note.data or "").strip(),
                    ),
                )
            except BookingError as error:
                if (to_own := _to_own_booking(error)) is not None:
                    return to_own
                form.form_errors.append(error.message)
                alternatives = forms.alternative_links(error.extra.get("alternatives", []))
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
                           settings=current_settings())


@bp.post("/resources/<slug>/waitlist")
@login_required
def join_waitlist(slug: str) -> Response | tuple[str, int]:
    """Queue for a taken slot; the form carries the slot as the booking form does."""
    resource = _resource(slug)
    form = BookingForm()
    if form.validate_on_submit():
        wanted = forms.wanted(form, resource)
        if wanted is not None:
            try:
                waitlist.join(db.session, actor=current_user, resource_slug=resource.slug,
                              start=wanted.start, end=wanted.end, now=now(),
                              settings=current_settings())
            except BookingError as error:
                form.form_errors.append(error.message)
            else:
                flash(_("You are on the waiting list. If the time becomes free, it is offered "
                        "to you here and reserved for you for a while."), "success")
                return redirect(url_for("bookings.mine") + "#waitlist")
    return _render_form(resource, form, status=422)
