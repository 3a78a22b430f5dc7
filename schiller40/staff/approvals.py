"""Studio bookings that wait for staff: approve (the authorised card is charged) or reject
(the booking is cancelled and the authorisation released), oldest first.

The decisions are the payments service's (``approve``, ``reject``), the same the booking page
uses: it commits, then talks to the gateway, so a slow gateway holds no lock.
"""

from __future__ import annotations

from datetime import datetime

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from wtforms import TextAreaField
from wtforms.validators import Length

from ..booking.errors import BookingError
from ..booking.models import Booking, BookingStatus
from ..booking.settings import current_settings
from ..core.clock import now
from ..core.forms import no_nul
from ..extensions import db
from ..payments import approval
from ..payments.errors import PaymentError
from ..payments.models import Payment, PaymentStatus
from ..payments.setup import gateway
from ..resources.models import Resource
from . import bp, section, staff_required


class ApprovalRejectForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason, shown to the member"), validators=[Length(max=500), no_nul],
        render_kw={"rows": 2},
    )


def _waiting_query(instant: datetime):  # type: ignore[no-untyped-def]
    """Held bookings whose payment is authorised and whose hold (the approval deadline)
    has not run out."""
    return (
        select(Booking)
        .join(Payment, Booking.payment_id == Payment.id)
        .where(
            Booking.status == BookingStatus.HELD,
            Booking.hold_expires_at > instant,
            Payment.status == PaymentStatus.AUTHORIZED,
        )
    )


def waiting(session: Session, *, now: datetime) -> list[Booking]:
    return list(
        session.scalars(
            _waiting_query(now)
            .options(
                selectinload(Booking.user),
                selectinload(Booking.resource).selectinload(Resource.location),
                selectinload(Booking.payment),
            )
            .order_by(Booking.created_at, Booking.id)
        )
    )


def waiting_count() -> int:
    """For the staff start page."""
    query = _waiting_query(now()).with_only_columns(func.count(Booking.id))
    return db.session.scalar(query) or 0


section(_l("Approvals"), "staff.approvals",
        _l("Studio bookings waiting for approval: approve to charge the card, or reject."),
        order=20, count=waiting_count)


@bp.get("/approvals")
@staff_required
def approvals() -> str:
    return render_template(
        "staff/approvals.html", bookings=waiting(db.session, now=now()),
        form=FlaskForm(), reject_form=ApprovalRejectForm(),
    )


@bp.post("/approvals/<id:booking_id>/approve")
@staff_required
def approval_approve(booking_id: int) -> Response:
    if not FlaskForm().validate_on_submit():
        flash(_("The form had expired. Please try again."), "error")
        return redirect(url_for("staff.approvals"))
    try:
        booking = approval.approve(
            db.session, gateway(), actor=current_user, booking_id=booking_id, now=now(),
            settings=current_settings(),
        )
    except PaymentError as error:  # decided by someone else meanwhile
        flash(error.message, "error")
        return redirect(url_for("staff.approvals"))
    name = booking.user.name if booking.user else "—"
    if booking.status is BookingStatus.CONFIRMED:
        flash(_("Approved: the booking of %(name)s is confirmed and the amount charged.",
                name=name), "success")
    else:
        flash(_("Approved. The payment service has not confirmed the charge yet; it will be "
                "retried automatically."), "info")
    return redirect(url_for("staff.approvals"))


@bp.post("/approvals/<id:booking_id>/reject")
@staff_required
def approval_reject(booking_id: int) -> Response:
    form = ApprovalRejectForm()
    if not form.validate_on_submit():
        flash(str(form.reason.errors[0]) if form.reason.errors
              else _("The form had expired. Please try again."), "error")
        return redirect(url_for("staff.approvals"))
    try:
        booking = approval.reject(
            db.session, gateway(), actor=current_user, booking_id=booking_id, now=now(),
            reason=form.reason.data, settings=current_settings(),
        )
    except (PaymentError, BookingError) as error:
        flash(error.message, "error")
        return redirect(url_for("staff.approvals"))
    name = booking.user.name if booking.user else "—"
    flash(_("Rejected: the booking of %(name)s is cancelled and the card authorisation "
            "released.", name=name), "success")
    return redirect(url_for("staff.approvals"))
