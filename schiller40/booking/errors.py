"""Booking errors: a rule's code becomes a DomainError with a status and a message for people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ..errors import DomainError
from .rules import Interval, RuleViolation, check_range

# code -> (HTTP status, message)
CODES: dict[str, tuple[int, Any]] = {
    "invalid": (422, _l("The requested time range is not valid.")),
    "unaligned": (
        422,
        _l("Desks are booked by the morning, the afternoon or the whole day; studios and rooms "
           "in 30-minute steps. Please choose a matching time."),
    ),
    "too_short": (422, _l("This booking is shorter than this space allows.")),
    "too_long": (422, _l("This booking is longer than this space allows.")),
    "in_past": (422, _l("This time has already begun. Please choose a time in the future.")),
    "too_short_notice": (422, _l("This space must be booked further in advance.")),
    "beyond_horizon": (422, _l("Your membership does not allow booking this far ahead.")),
    "outside_opening_hours": (422, _l("Schiller40 is not open at this time.")),
    "closed_day": (422, _l("Schiller40 is closed on this day.")),
    "holiday": (422, _l("Schiller40 is closed on this public holiday.")),
    "closure": (422, _l("Schiller40 is closed on this day.")),
    "blocked": (
        422, _l("This space is not available at this time (maintenance or an event)."),
    ),
    "not_entitled": (403, _l("Your membership does not allow booking this space.")),
    "too_many_bookings": (
        422, _l("You have reached the number of upcoming bookings your membership allows."),
    ),
    "desk_limit": (
        422,
        _l("You already have a desk booked at this time. Please cancel or change that booking "
           "first."),
    ),
    "conflict": (409, _l("This time is already booked.")),
    "already_booked": (409, _l("You have already booked this time.")),
    "not_found": (404, _l("There is no such space.")),
    "not_cancellable": (422, _l("This booking can no longer be cancelled.")),
    "not_changeable": (422, _l("This booking can no longer be changed.")),
    "price_changed": (
        422,
        _l("The new time would change the price of a paid booking. Please cancel it and "
           "book the new time instead."),
    ),
    "quote_changed": (
        409,
        _l("The price has changed since it was shown. Please check the new price and "
           "confirm again."),
    ),
    "slot_free": (422, _l("This time is free: you can book it directly.")),
    "already_waiting": (409, _l("You are already on the waiting list for this time.")),
    "offer_expired": (409, _l("This offer has expired.")),
    "not_offered": (422, _l("There is no open offer for this waiting list entry.")),
    "invoice_not_allowed": (
        422, _l("This member may not pay on invoice. Staff can allow it on the member's page."),
    ),
    "not_awaiting_approval": (409, _l("This booking is not waiting for approval.")),
}

# More precise messages for "not_entitled", by reason.
NOT_ENTITLED = {
    "no_membership": _l(
        "You need an active membership to book. Please talk to the Schiller40 team."
    ),
    "kind": _l("Your membership tier does not include this kind of space."),
    "induction": _l("This studio needs an induction first. Please ask the studio team for one."),
}


class BookingError(DomainError):
    """A refused booking; ``code`` and ``status`` come from the rule that refused it."""

    def __init__(
        self,
        code: str,
        *,
        message: str | None = None,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        status, default = CODES.get(code, (422, _l("The booking could not be made.")))
        self.code = code
        self.status = status
        super().__init__(message or str(default), fields=fields, extra=extra)


def from_violation(violation: RuleViolation, **extra: Any) -> BookingError:
    message = None
    if violation.code == "desk_limit":
        limit = violation.params.get("limit")
        limit = limit if isinstance(limit, int) else 1
        message = ngettext(
            "You already have a desk booked at this time, and a member can hold %(num)d "
            "desk at a time. Please cancel or change that booking first.",
            "You already have %(num)d desks booked at this time, as many as a member can "
            "hold at once. Please cancel or change one of those bookings first.",
            limit,
        )
    elif violation.code == "not_entitled":
        reason = violation.params.get("reason")
        if reason in NOT_ENTITLED:
            message = str(NOT_ENTITLED[str(reason)])
    text = message or str(CODES.get(violation.code, (422, violation.code))[1])
    fields = {violation.field: [text]} if violation.field else {}
    details = {k: v for k, v in violation.params.items() if k != "reason"}
    if "reason" in violation.params:
        details["reason"] = violation.params["reason"]
    if details:
        extra = {"details": details, **extra}
    return BookingError(violation.code, message=text, fields=fields, extra=extra)


def checked_range(start: datetime, end: datetime) -> Interval:
    """The requested range, or the 422 the rules give an end not after the start (or a range
    longer than any booking).

    Every service that takes a range from outside calls this first, before any database
    work: the windows it reads are built around the range, and on PostgreSQL an end days
    before the start made that window itself invalid (``tstzrange`` raised: a 500).
    """
    booked = Interval(start, end)
    try:
        check_range(booked)
    except RuleViolation as violation:
        raise from_violation(violation) from None
    return booked
