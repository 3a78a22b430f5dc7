"""Small helpers shared by the payment tests: local times, fresh rows, bookings made through
the booking service (as the API and the pages make them)."""

from __future__ import annotations

from datetime import date, datetime, time

from flask import current_app

from schiller40.booking.create import create_bookings
from schiller40.booking.models import Booking
from schiller40.booking.requests import BookingRequest
from schiller40.booking.settings import BookingSettings, from_config
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from tests.api.helpers import TUE


def when(day: date, hh: int, mm: int = 0) -> datetime:
    """A wall-clock time in Wolfsburg as an aware datetime."""
    return datetime.combine(day, time(hh, mm)).replace(tzinfo=BERLIN)


def fresh(model, row_id):
    """The row as the database has it now (the services commit in their own transactions)."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, row_id)


def book(user, resource, clock, *, day: date = TUE, start: int = 10, end: int = 11,
         settings: BookingSettings | None = None, **request) -> list[Booking]:
    """Book through the booking service; a paid booking comes back held, with its payment."""
    outcome = create_bookings(
        db.session, actor=user, now=clock(),
        settings=settings or from_config(current_app.config),
        request=BookingRequest(start=when(day, start), end=when(day, end),
                               resource_slug=resource.slug, **request),
    )
    db.session.commit()
    return outcome.bookings
