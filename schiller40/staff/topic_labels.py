"""Readable names of the worker's message kinds (outbox topics), for the outbox and audit
pages."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

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
    "mail.desk_receipt": _l("Receipt for a payment at the front desk"),
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
