"""Messages about check-in: a desk released because nobody checked in by the deadline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..booking import checkin
from ..booking.models import Booking, BookingStatus
from ..booking.settings import current_settings
from .catalog import message
from .compose import Mail, can_receive, render
from .ics import booking_invitation


@message("mail.no_show")
def no_show(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Sent when the worker released a desk as a no-show: when, why, what is not returned
    (included credit used, a payment), how to avoid it; with a calendar cancellation."""
    booking = session.get(Booking, int(payload["booking_id"]))
    if (
        booking is None
        or booking.no_show_at is None
        or booking.status is not BookingStatus.CANCELLED
        or not can_receive(booking.user)
    ):
        return None
    member = booking.user
    assert member is not None
    return render(
        "no_show",
        to=member,
        booking=booking,
        deadline=checkin.deadline(booking, current_settings().checkin_grace),
        grace_minutes=int(current_settings().checkin_grace.total_seconds() // 60),
        subject=lambda: _("Desk released: nobody checked in (%(name)s)",
                          name=booking.resource.name),
        attachments=lambda: [booking_invitation(booking, now=now, cancel=True)],
    )
