"""Messages about bookings: confirmed (and the calendar invitation that goes with it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..booking.models import Booking, BookingStatus
from .catalog import message
from .compose import Mail, can_receive, render
from .ics import booking_invitation


def _bookings(session: Session, ids: list[int]) -> list[Booking]:
    return list(
        session.scalars(select(Booking).where(Booking.id.in_(ids)).order_by(Booking.starts_at))
    )


@message("mail.booking_confirmed")
def booking_confirmed(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Sent when bookings become confirmed: at once when free or covered by credit, after
    payment otherwise. Only those still confirmed when the mail goes out are listed."""
    bookings = [
        b for b in _bookings(session, payload["booking_ids"])
        if b.effective_status(now) is BookingStatus.CONFIRMED
    ]
    if not bookings or not can_receive(bookings[0].user):
        return None
    member = bookings[0].user
    assert member is not None
    return render(
        "booking_confirmed",
        to=member,
        bookings=bookings,
        subject=lambda: ngettext(
            "Booking confirmed: %(name)s", "%(num)d bookings confirmed", len(bookings),
            name=bookings[0].resource.name,
        ),
        attachments=lambda: [booking_invitation(b, now=now) for b in bookings],
    )

