"""Everything under ``/bookings``: My bookings, and one booking's page with what can be done
from it: pay, cancel (with the refund shown first), move, check in, download it as a
calendar file, and for staff approve, reject and refund.

Views parse input, call one service or query and render; the rules live in the engine, and
the page asks the booking's own predicates before it offers a button. These pages reach
bookings, payments and calendar feeds at once, so they live here, above all three.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..booking import checkin, forms, queries, snapshots, waitlist
from ..booking.errors import BookingError
from ..booking.forms import BookingForm
from ..booking.grid import is_desk
from ..booking.models import Booking, BookingStatus
from ..booking.reschedule import reschedule as reschedule_booking
from ..booking.settings import current_settings
from ..core.clock import now
from ..core.forms import no_nul
from ..core.money import money
from ..core.urls import public_base, safe_redirect_target
from ..errors import NotFound
from ..extensions import db
from ..feeds import queries as feed_queries
from ..feeds import render
from ..payments import approval, cancellation, ledger
from ..payments.checkout_urls import open_checkout
from ..payments.models import PaymentStatus, RefundStatus
from ..payments.setup import gateway
from ..resources.models import Resource

bp = Blueprint("bookings", __name__)

PAST_WINDOW = timedelta(days=92)


class RescheduleForm(BookingForm):
    note = None  # a move keeps the booking's note
    resource = SelectField(_l("Space"), validate_choice=True)


class CheckInForm(FlaskForm):
    next = HiddenField()


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (optional)"), validators=[Optional(), Length(max=500), no_nul]
    )
    refund = RadioField(
        _l("Refund"),
        choices=[
            SelectChoice("policy", _l("As the cancellation terms say")),
            SelectChoice("full", _l("Refund in full")),
            SelectChoice("none", _l("No refund")),
        ],
        default="policy",
    )


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason, shown to the member"), validators=[Length(max=500), no_nul])


class RefundForm(FlaskForm):
    amount = StringField(
        _l("Amount in euros"),
        validators=[DataRequired(_l("Please enter an amount."))],
        description=_l("For example 12,50"),
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    note = StringField(_l("Note (why)"), validators=[Length(max=500), no_nul])


def parse_euros(raw: str) -> int | None:
    """ "12,50", "12.50", "12" -> cents; None if it is not an amount."""
    text = raw.strip().replace("€", "").replace(" ", "").replace("\u00a0", "")
    if not re.fullmatch(r"\d{1,6}([.,]\d{1,2})?", text):
        return None
    try:
        return int(Decimal(text.replace(",", ".")) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern above rules it out
        return None


def _visible_booking(booking_id: int) -> Booking:
    """The member's own booking, or any booking for staff; anyone else's is not found."""
    return queries.get_booking(db.session, viewer=current_user, booking_id=booking_id)


def _own_booking(booking_id: int) -> Booking:
    """The member's own booking; anyone else's (even for staff here) is not found."""
    booking = queries.get_booking(db.session, viewer=current_user, booking_id=booking_id)
    if booking.user_id != current_user.id:
        raise NotFound()
    return booking


def _locale() -> str:
    return str(get_locale() or "de")


# --- my bookings ---------------------------------------------------------------------------


@bp.get("/bookings")
@login_required
def mine() -> str:
    """My bookings: what is coming (with what can be done about it), offers from the waiting
    list, and the last three months."""
    instant = now()
    settings = current_settings()
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
    grace = current_settings().checkin_grace
    return render_template(
        "booking/mine.html", upcoming=upcoming, past=past, entries=entries, now=instant,
        checkin_state=lambda b: checkin.state(b, now=instant, grace=grace, staff=False),
    )


# --- one booking ---------------------------------------------------------------------------


@bp.get("/bookings/<id:booking_id>")
@login_required
def booking_detail(booking_id: int) -> str:
    booking = _visible_booking(booking_id)
    instant = now()
    status = booking.effective_status(instant)
    payment = booking.payment
    refunds = []
    if payment is not None:
        refunds = [
            r for r in payment.refunds
            if current_user.is_staff or r.booking_id in (booking.id, None)
        ]
    terms = None
    if booking.can_cancel(instant, by_staff=current_user.is_staff):
        terms = ledger.cancellation_terms(
            booking, now=instant, policy=current_settings().refund_policy
        )
    return render_template(
        "booking/detail.html", booking=booking, status=status, payment=payment,
        refunds=refunds, terms=terms, now=instant,
        checkin=checkin.state(booking, now=instant, staff=current_user.is_staff,
                              grace=current_settings().checkin_grace),
        awaiting_approval=payment is not None and payment.awaits_approval(booking, instant),
        refund_form=RefundForm(), reject_form=RejectForm(),
        RefundStatus=RefundStatus, PaymentStatus=PaymentStatus,
    )


@bp.get("/bookings/<id:booking_id>.ics")
@login_required
def booking_ics(booking_id: int) -> Response:
    """One booking as a file to import (confirmation page, e-mails)."""
    booking = queries.get_booking(
        db.session, viewer=current_user, booking_id=booking_id
    )
    event = feed_queries.booking_event(booking, current_user, base_url=public_base(), now=now())
    body = render.calendar(event.summary, [event])
    response = Response(body, content_type=render.CONTENT_TYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="schiller40-booking-{booking.id}.ics"'
    )
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response


@bp.post("/bookings/<id:booking_id>/pay")
@login_required
def pay(booking_id: int) -> Response:
    booking = _visible_booking(booking_id)
    if booking.payment is None or not booking.payment.awaits_payment(now(), booking):
        flash(_("This booking is not waiting for payment."), "info")
        return redirect(url_for("bookings.booking_detail", booking_id=booking_id))
    payment = open_checkout(booking.payment.id, _locale())
    assert payment.checkout_url is not None
    return redirect(payment.checkout_url, code=303)


@bp.route("/bookings/<id:booking_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(booking_id: int) -> str | Response:
    booking = _visible_booking(booking_id)
    instant = now()
    if not booking.can_cancel(instant, by_staff=current_user.is_staff):
        flash(_("This booking can no longer be cancelled."), "info")
        return redirect(url_for("bookings.booking_detail", booking_id=booking_id))
    form = CancelForm()
    if not current_user.is_staff:
        del form.refund
    settings = current_settings()
    if form.validate_on_submit():
        mode = form.refund.data if current_user.is_staff else "policy"
        done, refund = cancellation.cancel_booking(
            db.session, gateway(), actor=current_user, booking_id=booking_id, now=instant,
            reason=form.reason.data, refund=mode, settings=settings,
        )
        refund_cents = refund.amount_cents if refund and not refund.has_failed else 0
        if refund_cents:
            flash(_("Your booking is cancelled. %(amount)s will be refunded to your card "
                    "(this takes a few days).", amount=money(refund_cents)), "success")
        else:
            flash(_("Your booking is cancelled."), "success")
        return redirect(url_for("bookings.booking_detail", booking_id=done.id))
    terms = ledger.cancellation_terms(booking, now=instant, policy=settings.refund_policy)
    return render_template(
        "booking/cancel.html", booking=booking, form=form, terms=terms,
        policy=settings.refund_policy.get(booking.resource.kind, ()),
    )


@bp.post("/bookings/<id:booking_id>/check-in")
@login_required
def check_in(booking_id: int) -> Response:
    """Check in (members: their own desk; staff: any booking on its day), then back to the
    page the button was on."""
    form = CheckInForm()
    target = safe_redirect_target(
        form.next.data, url_for("bookings.booking_detail", booking_id=booking_id)
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


@bp.route("/bookings/<id:booking_id>/reschedule", methods=["GET", "POST"])
@login_required
def reschedule(booking_id: int) -> Response | tuple[str, int]:
    """Move a booking to another time, or another space of the same kind."""
    booking = _own_booking(booking_id)
    instant = now()
    if not booking.can_reschedule(instant):
        flash(_("This booking can no longer be changed."), "info")
        return redirect(url_for("bookings.booking_detail", booking_id=booking_id))
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
        forms.prefill(form, current)
        if request.args.get("resource") in {r.slug for r in siblings}:
            form.resource.data = request.args["resource"]
    elif form.validate_on_submit():
        target = next(r for r in siblings if r.slug == form.resource.data)
        wanted = forms.wanted(form, target)
        if wanted is not None:
            try:
                moved = reschedule_booking(
                    db.session, actor=current_user, booking_id=booking_id,
                    start=wanted.start, end=wanted.end, now=instant, settings=current_settings(),
                    resource_slug=target.slug,
                )
            except BookingError as error:
                form.form_errors.append(error.message)
                alternatives = forms.alternative_links(error.extra.get("alternatives", []),
                                                       booking_id=booking_id)
            else:
                flash(_("Your booking has been moved."), "success")
                return redirect(url_for("bookings.booking_detail", booking_id=moved.id))
        status = 422
    else:
        status = 422
    booking = _own_booking(booking_id)  # fresh after a refused attempt's rollback
    return render_template(
        "booking/reschedule.html", booking=booking, form=form, desk=is_desk(booking.resource),
        alternatives=alternatives,
    ), status


# --- staff ---------------------------------------------------------------------------------


def _staff_only() -> None:
    if not current_user.is_staff:
        abort(404)  # a member must not learn that staff pages exist


@bp.post("/bookings/<id:booking_id>/approve")
@login_required
def approve(booking_id: int) -> Response:
    _staff_only()
    if not FlaskForm().validate_on_submit():
        abort(400)
    # The approval is recorded either way; a capture the gateway did not confirm is left for
    # reconciliation, and the booking is then still held.
    booking = approval.approve(
        db.session, gateway(), actor=current_user, booking_id=booking_id, now=now(),
        settings=current_settings(),
    )
    if booking.status is BookingStatus.CONFIRMED:
        flash(_("Approved: the booking is confirmed and the amount charged."), "success")
    else:
        flash(_("Approved. The payment service has not confirmed the charge yet; it will be "
                "retried automatically."), "info")
    return redirect(url_for("bookings.booking_detail", booking_id=booking_id))


@bp.post("/bookings/<id:booking_id>/reject")
@login_required
def reject(booking_id: int) -> Response:
    _staff_only()
    form = RejectForm()
    if not form.validate_on_submit():
        flash(str(form.reason.errors[0]) if form.reason.errors
              else _("The reason is too long (500 characters at most)."), "error")
        return redirect(url_for("bookings.booking_detail", booking_id=booking_id))
    approval.reject(
        db.session, gateway(), actor=current_user, booking_id=booking_id, now=now(),
        reason=form.reason.data, settings=current_settings(),
    )
    flash(_("Rejected: the booking is cancelled and the card authorisation released."),
          "success")
    return redirect(url_for("bookings.booking_detail", booking_id=booking_id))


@bp.post("/bookings/<id:booking_id>/refunds")
@login_required
def refund(booking_id: int) -> Response | str:
    _staff_only()
    form = RefundForm()
    cents = parse_euros(form.amount.data or "") if form.validate_on_submit() else None
    if cents is None or cents <= 0:
        flash(_("Please enter the amount in euros, for example 12,50."), "error")
        return redirect(url_for("bookings.booking_detail", booking_id=booking_id) + "#refund")
    made = cancellation.refund_by_hand(
        db.session, gateway(), actor=current_user, booking_id=booking_id, amount_cents=cents,
        note=form.note.data or "", now=now(), settings=current_settings(),
    )
    if made.status is RefundStatus.SUCCEEDED:
        flash(_("%(amount)s refunded.", amount=money(made.amount_cents)), "success")
    elif made.status is RefundStatus.FAILED:
        # Refused for good: it is not retried, so do not promise that it will be.
        flash(_("The payment service refused the refund of %(amount)s: %(reason)s",
                amount=money(made.amount_cents), reason=made.failure_message or "—"), "error")
    else:
        flash(_("The refund of %(amount)s is recorded and will be sent to the payment service "
                "again shortly.", amount=money(made.amount_cents)), "info")
    return redirect(url_for("bookings.booking_detail", booking_id=booking_id) + "#payments")
