"""What a booking is asked for and what the answer says: the request, the outcome of each
occurrence, the report of a refused series, and the reason staff give for setting rules
aside. Shared by creating, rescheduling and the waitlist's acceptance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from ..payments.models import Payment, PaymentMethod
from ..resources.models import ResourceKind
from .errors import BookingError
from .models import Booking
from .rules import LocationRules, Overrides


@dataclass(frozen=True)
class BookingRequest:
    start: datetime
    end: datetime
    resource_slug: str | None = None
    # With a kind the request is "any free resource of the kind" (a slug as well: try that
    # one of the kind). The member's own booking of the same range on any resource of the
    # kind is then this request sent twice: answered ``already_booked``, never a second desk.
    kind: ResourceKind | None = None
    repeat_freq: str | None = None
    repeat_count: int = 1
    on_conflict: str = "fail"  # or "skip": book what is free, report the rest
    note: str = ""
    overrides: Overrides = field(default_factory=Overrides)
    # The total price staff were shown before confirming (the staff form's preview step):
    # if the price under the lock differs, nothing is booked (``quote_changed``).
    expected_gross_cents: int | None = None
    # Staff booking a paid slot for a member: how it is paid. ``online`` (None too): held
    # for ``BookingSettings.staff_hold`` while the member pays from the mail; ``desk_cash``/
    # ``desk_card``: paid at the desk, confirmed at once; ``invoice``: confirmed at once,
    # open until the transfer is recorded (only for members allowed to). Ignored when a
    # member books for themselves.
    payment: PaymentMethod | None = None


@dataclass
class Occurrence:
    start: datetime
    end: datetime
    booking: Booking | None = None
    error: BookingError | None = None


@dataclass
class BookingOutcome:
    occurrences: list[Occurrence]
    # What the held bookings owe, to be paid at a checkout (None if nothing is owed).
    payment: Payment | None = None

    @property
    def bookings(self) -> list[Booking]:
        return [o.booking for o in self.occurrences if o.booking is not None]


def occurrence_report(occurrence: Occurrence, loc: LocationRules) -> dict[str, Any]:
    report: dict[str, Any] = {
        "start": occurrence.start.astimezone(loc.tz).isoformat(),
        "end": occurrence.end.astimezone(loc.tz).isoformat(),
    }
    if occurrence.booking is not None:
        report["status"] = "booked"
        report["booking_id"] = occurrence.booking.id
    else:
        assert occurrence.error is not None
        report["status"] = "refused"
        report["error"] = {"code": occurrence.error.code, "message": occurrence.error.message}
    return report


def check_reason(overrides: Overrides) -> None:
    """Setting a rule aside needs a reason for the audit log; refused before anything is
    read or written."""
    if overrides.used and not overrides.reason.strip():
        raise BookingError(
            "invalid", message=str(_l("Please give a reason for setting rules aside.")),
            fields={"override.reason": [str(_l("Please give a reason for setting rules aside."))]},
        )


def override_details(overrides: Overrides) -> dict[str, Any]:
    """For an audit entry: which rules staff set aside (each ticked one ``true``) and why."""
    if not overrides.used:
        return {}
    return {
        "overrides": {name: True for name in overrides.used},
        "override_reason": overrides.reason.strip()[:500],
    }
