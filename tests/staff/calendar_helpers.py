"""Helpers shared by the staff calendar, block and approval tests."""

from __future__ import annotations

from datetime import date, datetime, time
from urllib.parse import urlsplit

from flask import current_app
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext

from schiller40.booking.create import create_bookings
from schiller40.booking.models import Booking
from schiller40.booking.requests import BookingRequest
from schiller40.booking.settings import from_config
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from tests.html import page

MON = date(2026, 11, 23)  # the frozen clock's day (09:00 in Wolfsburg)
TUE = date(2026, 11, 24)
THU = date(2026, 11, 26)
WEEK = "2026-W48"


def when(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm)).replace(tzinfo=BERLIN)


def fresh(model, row_id):
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, row_id)


def book(user, resource, clock, *, day: date = TUE, start: int = 10, end: int = 11) -> Booking:
    """Book through the booking service, as a member would (a paid booking comes back held)."""
    outcome = create_bookings(
        db.session, actor=user, now=clock(), settings=from_config(current_app.config),
        request=BookingRequest(start=when(day, start), end=when(day, end),
                               resource_slug=resource.slug),
    )
    db.session.commit()
    return outcome.bookings[0]


def pay(member: FlaskClient, booking_id: int) -> None:
    """Pay now, pay on the simulated checkout, come back (as the member's browser does)."""
    response = member.post(f"/bookings/{booking_id}/pay")
    assert response.status_code == 303, response.data[:300]
    checkout = urlsplit(response.headers["Location"]).path
    back = member.post(checkout, data={"action": "pay"})
    assert back.status_code == 303
    assert member.get(back.headers["Location"]).status_code == 302


def text(response) -> str:
    return " ".join(page(response).text.split())


def tr(msgid: str, locale: str = "de", **values) -> str:
    with force_locale(locale):
        return " ".join(gettext(msgid, **values).split())


def errors_of(response, field_id: str) -> list[str]:
    """The error messages tied to a field (its aria-describedby error list)."""
    html = page(response)
    box = html.by_id(f"{field_id}-error")
    if box is None:
        return []
    return [li.text for li in html.elements if li.tag == "li" and li in _children(html, box)]


def _children(html, box):
    start = html.elements.index(box)
    out = []
    for element in html.elements[start + 1:]:
        if element.tag == "ul":
            break
        out.append(element)
    return out


def flashes(client: FlaskClient, response) -> str:
    """Follow a redirect and read the status messages shown."""
    assert response.status_code in (302, 303), response.data[:500]
    shown = client.get(response.headers["Location"])
    html = page(shown)
    return " ".join(" ".join(p.text.split()) for p in html.find_all("p")
                    if (p.attrs.get("class") or "").startswith("flash"))


def in_english(user) -> None:
    """A logged-in user's saved language wins over the cookie: switch theirs to English."""
    user.locale = "en"
    db.session.commit()
