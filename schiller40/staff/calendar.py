"""Studio and room calendars for staff: a week per resource, bookings on a member's behalf,
moving bookings, and blocks for maintenance and events.

Views only parse input, call one service (booking or blocks) and render. The week is read
in a fixed number of queries, whatever the number of bookings (see ``_week_data``).
Cancelling on a member's behalf, approving and refunds live on the booking page
(``members/booking_pages.py``), which the calendar links to. The list of upcoming blocks
is ``blocks.py``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from babel.dates import format_skeleton
from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from ..accounts.models import User
from ..booking import checkin, queries, snapshots
from ..booking.create import create_bookings
from ..booking.errors import BookingError
from ..booking.models import ACTIVE_STATUSES, Booking
from ..booking.requests import BookingRequest
from ..booking.reschedule import reschedule as reschedule_booking
from ..booking.rules import Interval, Overrides
from ..booking.settings import current_settings
from ..core.clock import now
from ..core.forms import bookable_day, bookable_day_error, no_nul
from ..core.money import money
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..payments.models import DESK_METHODS, PaymentMethod
from ..payments.setup import gateway
from ..resources.models import Block, BlockKind, Location, Resource, ResourceKind
from ..venue import blocks as block_service
from . import bp, section, staff_required
from .calendar_grid import booking_state, build_week, iso_week, parse_week
from .payment_labels import BOOKING_CHOICES

CALENDAR_KINDS = (ResourceKind.STUDIO, ResourceKind.ROOM)

section(_l("Calendar"), "staff.calendar",
        _l("Week calendars of the studios and meeting rooms: book for members, move bookings, "
           "block times for maintenance and events."), order=10)


# --- forms ---------------------------------------------------------------------------------


def _in_range(day: date | None) -> bool:
    return day is not None and bookable_day_error(day, now().date()) is None


class _TimeRange:
    """The day, from and until fields shared by the booking and move forms."""

    def validate_day(self, field: DateField) -> None:
        bookable_day(self, field)

    def validate_end(self, field: TimeField) -> None:
        start = self.start.data  # type: ignore[attr-defined]
        if field.data is not None and start is not None and field.data <= start:
            raise ValidationError(_l("The end must be after the start."))


class _OverrideFields:
    """The rules staff may set aside, each ticked on purpose, and why (see
    ``booking.rules.Overrides``); shared by the booking and move forms."""

    override_membership = BooleanField(
        _l("No membership: book although the member's membership does not include this "
           "(charged at the list price)"))
    override_induction = BooleanField(_l("No induction: book although the member has no "
                                         "induction for this studio"))
    override_quota = BooleanField(_l("Over quota: more upcoming bookings, or further ahead, "
                                     "than the member's tier allows"))
    override_hours = BooleanField(_l("Outside opening hours (also closed days and public "
                                     "holidays)"))
    override_blocks = BooleanField(_l("During a block"))
    override_desk_limit = BooleanField(_l("More than the desk limit"))
    override_reason = StringField(
        _l("Reason for the exception"), validators=[Length(max=500), no_nul],
        description=_l("Required when you tick an exception; recorded in the audit log."),
    )

    def overrides(self) -> Overrides:
        return Overrides(
            membership=bool(self.override_membership.data),  # type: ignore[attr-defined]
            induction=bool(self.override_induction.data),  # type: ignore[attr-defined]
            quota=bool(self.override_quota.data),  # type: ignore[attr-defined]
            opening_hours=bool(self.override_hours.data),  # type: ignore[attr-defined]
            blocks=bool(self.override_blocks.data),  # type: ignore[attr-defined]
            desk_limit=bool(self.override_desk_limit.data),  # type: ignore[attr-defined]
            reason=(self.override_reason.data or "").strip(),  # type: ignore[attr-defined]
        )

    def validate_override_reason(self, field: StringField) -> None:
        if self.overrides().used and not (field.data or "").strip():
            raise ValidationError(_l("Please give a reason for setting rules aside."))


class StaffBookingForm(_TimeRange, _OverrideFields, FlaskForm):
    email = StringField(
        _l("Member's e-mail address"),
        validators=[DataRequired(_l("Please enter the member's e-mail address.")),
                    Length(max=254), no_nul],
        render_kw={"autocomplete": "off", "inputmode": "email"},
    )
    day = DateField(_l("Date"), validators=[DataRequired(_l("Please choose a date."))])
    start = TimeField(_l("From"), validators=[DataRequired(_l("Please enter a time."))])
    end = TimeField(_l("Until"), validators=[DataRequired(_l("Please enter a time."))])
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=500), no_nul])
    # The total price shown in the preview step, in cents; booking is refused if it moved.
    quoted = HiddenField(validators=[Optional(), Regexp(r"^\d{1,9}$")])
    # How a paid booking is paid (offered once the price is known and not zero).
    payment = RadioField(
        _l("How does the member pay?"), choices=BOOKING_CHOICES,
        default=PaymentMethod.ONLINE.value, validators=[Optional()],
    )

    member: User | None = None

    def validate_email(self, field: StringField) -> None:
        address = (field.data or "").strip().lower()
        found = db.session.scalar(select(User).where(func.lower(User.email) == address))
        if found is None or not found.is_active_account:
            raise ValidationError(_l("There is no member with this e-mail address."))
        self.member = found


class MoveForm(_TimeRange, _OverrideFields, FlaskForm):
    resource = SelectField(_l("Space"))
    day = DateField(_l("Date"), validators=[DataRequired(_l("Please choose a date."))])
    start = TimeField(_l("From"), validators=[DataRequired(_l("Please enter a time."))])
    end = TimeField(_l("Until"), validators=[DataRequired(_l("Please enter a time."))])


KIND_CHOICES = [
    SelectChoice(BlockKind.MAINTENANCE.value, _l("Maintenance")),
    SelectChoice(BlockKind.EVENT.value, _l("Event")),
    SelectChoice(BlockKind.CLOSURE.value, _l("Closure")),
]


class BlockForm(FlaskForm):
    scope = SelectField(_l("What is blocked"))
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES, default=BlockKind.MAINTENANCE.value)
    start_day = DateField(_l("From (date)"),
                          validators=[DataRequired(_l("Please choose a date."))])
    start_time = TimeField(_l("From (time)"),
                           validators=[DataRequired(_l("Please enter a time."))])
    end_day = DateField(_l("Until (date)"),
                        validators=[DataRequired(_l("Please choose a date."))])
    end_time = TimeField(_l("Until (time)"),
                         validators=[DataRequired(_l("Please enter a time."))])
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(_l("Please give a reason.")), Length(max=200), no_nul],
        description=_l("Shown to staff in the calendar; members see that the time is blocked."),
    )
    cancel_conflicting = BooleanField(_l("Cancel overlapping bookings and refund them in full"))

    def validate_start_day(self, field: DateField) -> None:
        bookable_day(self, field)

    def validate_end_day(self, field: DateField) -> None:
        bookable_day(self, field)

    def validate_end_time(self, field: TimeField) -> None:
        if None in (field.data, self.end_day.data, self.start_day.data, self.start_time.data):
            return
        if (self.end_day.data, field.data) <= (self.start_day.data, self.start_time.data):
            raise ValidationError(_l("The end must be after the start."))


# --- reading -------------------------------------------------------------------------------


def _calendar_resource(slug: str) -> Resource:
    resource = db.session.scalar(
        select(Resource)
        .options(
            selectinload(Resource.location).selectinload(Location.opening_hours),
            selectinload(Resource.location).selectinload(Location.closures),
        )
        .where(Resource.slug == slug)
    )
    if resource is None or resource.kind not in CALENDAR_KINDS:
        raise NotFound()
    return resource


def _calendar_resources() -> list[Resource]:
    return list(
        db.session.scalars(
            select(Resource)
            .options(selectinload(Resource.location))
            .where(Resource.kind.in_(CALENDAR_KINDS), Resource.is_active.is_(True))
            .order_by(Resource.location_id, Resource.kind, Resource.position, Resource.name)
        )
    )


def _week_data(resource: Resource, window: Interval) -> tuple[list[Booking], list[Block]]:
    """The resource's active bookings and its blocks in ``window``: four queries in all
    (bookings, their members, their payments; blocks), however many there are."""
    bookings = list(
        db.session.scalars(
            select(Booking)
            .options(selectinload(Booking.user), selectinload(Booking.payment))
            .where(
                Booking.resource_id == resource.id,
                Booking.status.in_(ACTIVE_STATUSES),
                Booking.block_start < window.end,
                Booking.block_end > window.start,
            )
            .order_by(Booking.starts_at, Booking.id)
        )
    )
    blocks = block_service.blocks_in(db.session, resource, window)
    return bookings, blocks


def _week_url(slug: str, day: date) -> str:
    return url_for("staff.calendar_week", slug=slug, week=iso_week(day))


def _local_day(resource: Resource, instant: datetime) -> date:
    return instant.astimezone(resource.location.tz).date()


# --- pages ---------------------------------------------------------------------------------


@bp.get("/calendar")
@staff_required
def calendar() -> str:
    return render_template("staff/calendar_index.html", resources=_calendar_resources())


@bp.get("/calendar/<slug>")
@staff_required
def calendar_week(slug: str) -> str:
    resource = _calendar_resource(slug)
    location = resource.location
    instant = now()
    today = instant.astimezone(location.tz).date()
    raw = request.args.get("week")
    monday, understood = parse_week(raw, today)
    sunday = monday + timedelta(days=6)
    rules = snapshots.location_rules(location, {monday.year, sunday.year})
    window = Interval(
        rules.local(monday, time(0)), rules.local(sunday + timedelta(days=1), time(0))
    )
    bookings, blocks = _week_data(resource, window)
    week = build_week(location=location, rules=rules, monday=monday, bookings=bookings,
                      blocks=blocks, now=instant, today=today)
    return render_template(
        "staff/calendar_week.html", resource=resource, week=week, now=instant,
        bad_week=None if understood else raw,
        week_value=iso_week(monday),
        prev_week=iso_week(monday - timedelta(days=7)),
        next_week=iso_week(monday + timedelta(days=7)),
        this_week=iso_week(today), is_this_week=iso_week(today) == iso_week(monday),
        others=[r for r in _calendar_resources() if r.location_id == resource.location_id],
        hm=lambda instant: instant.astimezone(location.tz).strftime("%H:%M"),
        day_label=_day_label,
        booking_state=lambda b: booking_state(b, instant),
        checkin_state=lambda b: checkin.state(
            b, now=instant, staff=True, grace=current_settings().checkin_grace),
    )


def _day_label(day: date) -> str:
    """"Mo., 23. Nov." / "Mon, Nov 23": short, in the reader's language."""
    return format_skeleton("MMMEd", day, locale=get_locale() or "de")


def _prefill(booking_form: StaffBookingForm, block_form: BlockForm) -> None:
    """From a click on a free slot: ?day=YYYY-MM-DD&start=HH:MM (an hour, or ?end=)."""
    try:
        day = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return  # a mangled link: an empty form is the honest answer
    if not _in_range(day):
        return
    booking_form.day.data = block_form.start_day.data = block_form.end_day.data = day
    try:
        start = time.fromisoformat(request.args.get("start", ""))
    except ValueError:
        return
    try:
        end = time.fromisoformat(request.args.get("end", ""))
    except ValueError:
        end = (datetime.combine(day, start) + timedelta(hours=1)).time()
    if end <= start:
        end = time(23, 30) if start < time(23, 30) else start
        if end <= start:
            return
    booking_form.start.data = block_form.start_time.data = start
    booking_form.end.data = block_form.end_time.data = end


def _scope_choices(resource: Resource) -> list[SelectChoice]:
    return [
        SelectChoice("resource", resource.name),
        SelectChoice("location", _("All of %(location)s (every space)",
                                   location=resource.location.name)),
    ]


def _render_new(
    resource: Resource,
    booking_form: StaffBookingForm,
    block_form: BlockForm,
    *,
    status: int = 200,
    alternatives: list[dict[str, Any]] | None = None,
    affected: list[Booking] | None = None,
    preview: queries.Preview | None = None,
    wanted: Interval | None = None,
) -> tuple[str, int]:
    return render_template(
        "staff/calendar_new.html", resource=resource, booking_form=booking_form,
        block_form=block_form, alternatives=alternatives or [], affected=affected or [],
        preview=preview, wanted=wanted,
        staff_hold_hours=int(current_settings().staff_hold.total_seconds() // 3600),
    ), status


def _forms(resource: Resource) -> tuple[StaffBookingForm, BlockForm]:
    booking_form = StaffBookingForm(prefix="booking")
    block_form = BlockForm(prefix="block")
    block_form.scope.choices = _scope_choices(resource)
    return booking_form, block_form


@bp.get("/calendar/<slug>/new")
@staff_required
def calendar_new(slug: str) -> tuple[str, int]:
    """What to do with a free time: book it for a member, or block it."""
    resource = _calendar_resource(slug)
    booking_form, block_form = _forms(resource)
    _prefill(booking_form, block_form)
    return _render_new(resource, booking_form, block_form)


def _alternative_links(
    resource: Resource, alternatives: list[dict[str, Any]], *, move: int | None = None
) -> list[dict[str, Any]]:
    """Links that open the form again with an alternative filled in (the booking form, or
    the move form of booking ``move``)."""
    links = []
    names = {r.slug: r.name for r in _calendar_resources()}
    for alt in alternatives:
        start, end = datetime.fromisoformat(alt["start"]), datetime.fromisoformat(alt["end"])
        slug = alt["resource"]
        links.append({
            "name": names.get(slug, slug), "start": start, "end": end,
            "url": url_for("staff.calendar_move", booking_id=move, resource=slug,
                           day=start.date().isoformat(), start=start.strftime("%H:%M"),
                           end=end.strftime("%H:%M"))
            if move is not None else
            url_for("staff.calendar_new", slug=slug, day=start.date().isoformat(),
                    start=start.strftime("%H:%M"), end=end.strftime("%H:%M")),
        })
    return links


@bp.post("/calendar/<slug>/book")
@staff_required
def calendar_book(slug: str) -> Response | tuple[str, int]:
    """Two steps: "Check price" (or "Book" without a price seen yet) shows what the member
    would pay, or why the booking would be refused, under the exceptions ticked; "Book" then
    books at that price (refused if it moved meanwhile, with the new price shown)."""
    resource = _calendar_resource(slug)
    booking_form, block_form = _forms(resource)
    alternatives: list[dict[str, Any]] = []
    preview: queries.Preview | None = None
    wanted: Interval | None = None
    if booking_form.validate_on_submit():
        assert booking_form.member is not None
        rules = snapshots.location_rules(resource.location, {booking_form.day.data.year})
        wanted = Interval(rules.local(booking_form.day.data, booking_form.start.data),
                          rules.local(booking_form.day.data, booking_form.end.data))
        quoted = booking_form.quoted.data
        if request.form.get("action") == "preview" or not quoted:
            preview = _staff_preview(resource, booking_form, wanted)
            booking_form.quoted.data = (
                str(preview.quote.gross_cents) if preview.quote is not None else "")
            return _render_new(resource, booking_form, block_form, preview=preview,
                               wanted=wanted, status=422 if preview.error else 200,
                               alternatives=_alternative_links(resource, preview.alternatives))
        try:
            outcome = create_bookings(
                db.session, actor=current_user, for_user=booking_form.member, now=now(),
                settings=current_settings(),
                request=BookingRequest(
                    start=wanted.start, end=wanted.end, resource_slug=resource.slug,
                    note=(booking_form.note.data or "").strip(),
                    overrides=booking_form.overrides(),
                    expected_gross_cents=int(quoted),
                    payment=PaymentMethod(booking_form.payment.data or "online"),
                ),
            )
        except BookingError as error:
            booking_form.form_errors.append(error.message)
            alternatives = _alternative_links(resource, error.extra.get("alternatives", []))
            if error.code == "quote_changed":
                preview = _staff_preview(resource, booking_form, wanted)
                booking_form.quoted.data = (
                    str(preview.quote.gross_cents) if preview.quote is not None else "")
            else:
                booking_form.quoted.data = ""
        else:
            booking = outcome.bookings[0]
            name = booking.user.name if booking.user else ""
            paid_by = outcome.payment.method if outcome.payment is not None else None
            if paid_by in DESK_METHODS:
                assert outcome.payment is not None
                flash(_("Booked for %(name)s and confirmed: %(amount)s received at the desk "
                        "(payment no. %(id)s). A receipt goes to %(name)s by e-mail.",
                        name=name, amount=money(outcome.payment.amount_cents),
                        id=outcome.payment.id), "success")
            elif paid_by is PaymentMethod.INVOICE:
                assert outcome.payment is not None
                flash(_("Booked for %(name)s and confirmed on invoice: %(amount)s is open "
                        "until the bank transfer is recorded.", name=name,
                        amount=money(outcome.payment.amount_cents)), "success")
            elif outcome.payment is not None:
                flash(_("Booked for %(name)s. %(amount)s is owed: the time is held until "
                        "%(until)s, and %(name)s has been sent an e-mail with the link to pay "
                        "(or it is released).", name=name,
                        amount=money(outcome.payment.amount_cents),
                        until=_short_time(booking.hold_expires_at)), "info")
            else:
                flash(_("Booked for %(name)s.", name=name), "success")
            return redirect(_week_url(resource.slug, _local_day(resource, booking.starts_at)))
    block_form.start_day.data = block_form.end_day.data = booking_form.day.data
    block_form.start_time.data = booking_form.start.data
    block_form.end_time.data = booking_form.end.data
    return _render_new(resource, booking_form, block_form, status=422,
                       alternatives=alternatives, preview=preview, wanted=wanted)


def _staff_preview(
    resource: Resource, form: StaffBookingForm, wanted: Interval
) -> queries.Preview:
    """The member booking form's own preview, for the member and with staff's exceptions."""
    return queries.preview(
        db.session, viewer=current_user, for_user=form.member, resource=resource,
        start=wanted.start, end=wanted.end, now=now(),
        settings=current_settings(), overrides=form.overrides(),
    )


def _short_time(instant: datetime | None) -> str:
    return format_datetime(instant, "short") if instant else ""


@bp.post("/calendar/<slug>/block")
@staff_required
def calendar_block(slug: str) -> Response | tuple[str, int]:
    resource = _calendar_resource(slug)
    booking_form, block_form = _forms(resource)
    affected: list[Booking] = []
    if block_form.validate_on_submit():
        rules = snapshots.location_rules(
            resource.location, {block_form.start_day.data.year, block_form.end_day.data.year}
        )
        start = rules.local(block_form.start_day.data, block_form.start_time.data)
        end = rules.local(block_form.end_day.data, block_form.end_time.data)
        whole = block_form.scope.data == "location"
        try:
            outcome = block_service.create_block(
                db.session, gateway(), actor=current_user,
                resource_id=None if whole else resource.id,
                location_id=resource.location_id if whole else None,
                kind=block_form.kind.data or "", start=start, end=end,
                reason=block_form.reason.data or "",
                cancel_conflicting=bool(block_form.cancel_conflicting.data),
                now=now(), settings=current_settings(),
            )
        except block_service.BlockConflict as conflict:
            block_form.form_errors.append(conflict.message)
            affected = _reload(conflict.bookings)
        except InvalidInput as invalid:
            _errors_beside_fields(block_form, invalid)
        else:
            if outcome.cancelled:
                flash(_("Blocked. %(n)d booking(s) cancelled; %(amount)s is refunded in full.",
                        n=len(outcome.cancelled), amount=money(outcome.refunded_cents)),
                      "success")
            else:
                flash(_("Blocked."), "success")
            return redirect(_week_url(resource.slug, block_form.start_day.data))
    booking_form.day.data = block_form.start_day.data
    booking_form.start.data = block_form.start_time.data
    booking_form.end.data = block_form.end_time.data
    return _render_new(resource, booking_form, block_form, status=422, affected=affected)


def _reload(bookings: list[Booking]) -> list[Booking]:
    """The conflicting bookings with their members, for the page (one query)."""
    ids = [b.id for b in bookings]
    return list(
        db.session.scalars(
            select(Booking)
            .options(selectinload(Booking.user), selectinload(Booking.resource))
            .where(Booking.id.in_(ids))
            .order_by(Booking.starts_at)
        )
    )


_FIELD_OF = {"end": "end_time", "start": "start_time", "reason": "reason", "kind": "kind",
             "resource": "scope"}


def _errors_beside_fields(form: FlaskForm, invalid: InvalidInput) -> None:
    placed = False
    for name, messages in invalid.fields.items():
        target = getattr(form, _FIELD_OF.get(name, name), None)
        if target is not None:
            target.errors = [*target.errors, *messages]
            placed = True
    if not placed:
        form.form_errors.append(invalid.message)


# --- moving a booking ----------------------------------------------------------------------


def _movable(booking_id: int) -> Booking:
    booking = db.session.scalar(
        select(Booking)
        .options(selectinload(Booking.resource).selectinload(Resource.location),
                 selectinload(Booking.user))
        .where(Booking.id == booking_id)
    )
    if booking is None:
        raise NotFound()
    return booking


@bp.route("/calendar/bookings/<id:booking_id>/move", methods=["GET", "POST"])
@staff_required
def calendar_move(booking_id: int) -> Response | tuple[str, int]:
    booking = _movable(booking_id)
    resource = booking.resource
    tz = resource.location.tz
    form = MoveForm()
    siblings = [
        r for r in _calendar_resources()
        if r.kind is resource.kind and r.location_id == resource.location_id
    ] if resource.kind in CALENDAR_KINDS else [resource]
    if resource not in siblings:
        siblings.insert(0, resource)
    form.resource.choices = [SelectChoice(r.slug, r.name) for r in siblings]
    instant = now()
    changeable = booking.can_reschedule(instant)
    if request.method == "GET":
        form.resource.data = resource.slug
        form.day.data = booking.starts_at.astimezone(tz).date()
        form.start.data = booking.starts_at.astimezone(tz).time()
        form.end.data = booking.ends_at.astimezone(tz).time()
        _prefill_move(form)
    alternatives: list[dict[str, Any]] = []
    if changeable and form.validate_on_submit():
        rules = snapshots.location_rules(resource.location, {form.day.data.year})
        try:
            moved = reschedule_booking(
                db.session, actor=current_user, booking_id=booking.id,
                start=rules.local(form.day.data, form.start.data),
                end=rules.local(form.day.data, form.end.data),
                resource_slug=form.resource.data, now=instant,
                overrides=form.overrides(),
                settings=current_settings(),
            )
        except BookingError as error:
            form.form_errors.append(error.message)
            alternatives = _alternative_links(
                resource, error.extra.get("alternatives", []), move=booking_id)
            booking = _movable(booking_id)
        else:
            flash(_("Moved."), "success")
            target = moved.resource.slug
            day = moved.starts_at.astimezone(tz).date()
            if target in {r.slug for r in siblings} and moved.resource.kind in CALENDAR_KINDS:
                return redirect(_week_url(target, day))
            return redirect(url_for("bookings.booking_detail", booking_id=moved.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "staff/calendar_move.html", booking=booking, form=form, changeable=changeable,
        alternatives=alternatives,
        back=_week_url(resource.slug, booking.starts_at.astimezone(tz).date())
        if resource.kind in CALENDAR_KINDS else None,
    ), status


def _prefill_move(form: MoveForm) -> None:
    """From an alternative's link: ?resource=&day=&start=&end= (ignored if mangled)."""
    try:
        day = date.fromisoformat(request.args["day"])
        start = time.fromisoformat(request.args["start"])
        end = time.fromisoformat(request.args["end"])
    except (KeyError, ValueError):
        return
    if not _in_range(day) or end <= start:
        return
    form.day.data, form.start.data, form.end.data = day, start, end
    wanted = request.args.get("resource")
    if wanted in {value for value, *_rest in form.resource.choices}:  # type: ignore[union-attr]
        form.resource.data = wanted
