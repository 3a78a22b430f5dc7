"""Calendar files for mails: the booking as an invitation (RFC 5546 iTIP).

``REQUEST`` for a new or changed booking, ``CANCEL`` for a cancelled one; the UID is the
feed's, and SEQUENCE rises with every change, so a calendar that already holds the event
from the member's feed updates that one instead of adding a second.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from email.utils import parseaddr

from flask import current_app

from ..booking.models import Booking
from ..core.urls import public_base
from ..feeds import render
from ..feeds.queries import booking_event
from .compose import Attachment


def booking_invitation(booking: Booking, *, now: datetime, cancel: bool = False) -> Attachment:
    """Call inside the recipient's language (the summary is translated)."""
    assert booking.user is not None
    event = booking_event(booking, booking.user, base_url=public_base(), now=now)
    name, address = parseaddr(str(current_app.config["MAIL_SENDER"]))
    event = replace(
        event,
        organizer=(name or "Schiller40", address),
        attendee=(booking.user.name, booking.user.email),
    )
    method = "CANCEL" if cancel else "REQUEST"
    if cancel and event.status != "CANCELLED":
        event = replace(event, status="CANCELLED")
    return Attachment(
        filename=f"schiller40-booking-{booking.id}.ics",
        data=render.calendar(event.summary, [event], method=method),
        params={"method": method, "charset": "utf-8"},
    )
