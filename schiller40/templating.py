"""Jinja helpers: money and local times in the reader's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.dates import format_skeleton, get_day_names
from flask import Flask, g, request
from flask_babel import (
    format_date,
    format_datetime,
    format_time,
    get_locale,
    get_timezone,
    to_user_timezone,
)
from flask_babel import lazy_gettext as _l

from .booking.models import BookingStatus
from .core.money import money
from .membership.signup import SIGNUP_MODE_PUBLIC, notice_text
from .resources.models import BookingUnit, ResourceKind

KIND_LABELS = {
    ResourceKind.DESK: _l("Desks"),
    ResourceKind.STUDIO: _l("Studios"),
    ResourceKind.ROOM: _l("Meeting rooms"),
}
STATUS_LABELS = {
    BookingStatus.HELD: _l("reserved, awaiting payment"),
    BookingStatus.CONFIRMED: _l("confirmed"),
    BookingStatus.CANCELLED: _l("cancelled"),
    BookingStatus.EXPIRED: _l("expired (not paid in time)"),
}
UNIT_LABELS = {
    BookingUnit.HALF_DAY: _l("half or whole days"),
    BookingUnit.DAY: _l("whole days"),
    BookingUnit.SLOT_30: _l("30-minute steps"),
}


def local_datetime(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, fmt)


def time_range(start: datetime | None, end: datetime | None) -> str:
    """E.g. "Di., 24. Nov. 2026, 09:00-11:00" (with an en dash): the day once, then both
    times, in the reader's language and the location's zone (a range over midnight names
    the second day too)."""
    if start is None or end is None:
        return ""
    locale = get_locale() or "de"
    tz = get_timezone()
    day = format_skeleton("yMMMEd", start, tzinfo=tz, locale=locale)
    if to_user_timezone(start).date() == to_user_timezone(end).date():
        until = format_time(end, "short")
    else:
        until = (
            f"{format_skeleton('yMMMEd', end, tzinfo=tz, locale=locale)}, "
            f"{format_time(end, 'short')}"
        )
    return f"{day}, {format_time(start, 'short')}\u2013{until}"


def weekday_name(weekday: int) -> str:
    """0 = Monday, in the reader's language."""
    return get_day_names("wide", locale=get_locale())[weekday]


def install(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(local_datetime, "local_datetime")
    app.add_template_filter(format_date, "format_date")
    app.add_template_global(time_range, "time_range")
    app.add_template_global(weekday_name, "weekday_name")
    app.add_template_global(lambda kind: str(KIND_LABELS[kind]), "kind_label")
    app.add_template_global(lambda unit: str(UNIT_LABELS[unit]), "unit_label")
    app.add_template_global(lambda status: str(STATUS_LABELS[status]), "status_label")
    app.add_template_global(lambda mode: str(SIGNUP_MODE_PUBLIC[mode]), "signup_label")
    app.add_template_global(notice_text, "notice_text")

    @app.context_processor
    def globals_() -> dict[str, Any]:
        return {
            "current_locale": str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"]),
            "languages": app.config["LANGUAGES"],
            "request_id": g.get("request_id"),
            "current_path": request.full_path.rstrip("?") if request else "/",
        }
