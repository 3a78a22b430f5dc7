"""Staff page: messages the worker could not deliver, and those it is still retrying.

Staff see whom a message was for and why it failed, and either send it again (after the
address or the mail server was fixed) or discard it. Both are audited.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from ..core.clock import now
from ..extensions import db
from ..mail import admin
from . import bp, section, staff_required

# Readable names for the message kinds; one not listed shows its topic, which is stable.
TOPIC_LABELS: dict[str, Any] = {
    "mail.booking_confirmed": _l("Booking confirmed"),
    "mail.booking_changed": _l("Booking changed"),
    "mail.booking_cancelled": _l("Booking cancelled"),
    "mail.hold_expired": _l("Reservation expired"),
    "mail.booking_reminder": _l("Reminder the day before"),
    "mail.waitlist_offer": _l("Waiting list offer"),
    "mail.payment_received": _l("Payment received"),
    "mail.refund_issued": _l("Refund issued"),
    "mail.booking_approved": _l("Studio booking approved"),
    "mail.booking_rejected": _l("Studio booking rejected"),
    "mail.booking_to_pay": _l("Booked by staff, to pay"),
    "mail.approval_needed": _l("Approval needed (to staff)"),
    "mail.membership_ending": _l("Membership ending soon"),
    "mail.verify_email": _l("Confirm e-mail address"),
    "mail.password_reset": _l("Password reset"),
    "mail.already_registered": _l("Registered again (account exists)"),
    "mail.no_show": _l("Desk released (no check-in)"),
    "job.reconcile_recent": _l("Payment reconciliation"),
}


def topic_label(topic: str) -> str:
    label = TOPIC_LABELS.get(topic)
    return str(label) if label is not None else topic


section(
    _l("Outgoing mail"), "staff.outbox",
    _l("Messages that could not be delivered: send them again or discard them."),
    order=65, count=lambda: admin.failed_count(db.session),
)


@bp.get("/outbox")
@staff_required
def outbox() -> str:
    return render_template(
        "staff/outbox.html", overview=admin.overview(db.session), form=FlaskForm(),
        topic_label=topic_label,
    )


def _decide(message_id: int, action: str) -> Response:
    if not FlaskForm().validate_on_submit():
        flash(_("The form had expired. Please try again."), "error")
        return redirect(url_for("staff.outbox"))
    try:
        if action == "retry":
            admin.retry(db.session, actor=current_user, message_id=message_id, now=now())
            flash(_("The message is sent again with the next pass of the worker."), "success")
        else:
            admin.discard(db.session, actor=current_user, message_id=message_id, now=now())
            flash(_("The message was discarded."), "success")
    except admin.NotFailed as error:
        flash(error.message, "error")
    return redirect(url_for("staff.outbox"))


@bp.post("/outbox/<id:message_id>/retry")
@staff_required
def outbox_retry(message_id: int) -> Response:
    return _decide(message_id, "retry")


@bp.post("/outbox/<id:message_id>/discard")
@staff_required
def outbox_discard(message_id: int) -> Response:
    return _decide(message_id, "discard")
