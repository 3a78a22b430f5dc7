"""Jinja helpers: money and local times in the reader's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.dates import get_day_names
from flask import Flask, g, request
from flask_babel import format_currency, format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l

from .booking.models import BookingStatus
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


def money(cents: int | None) -> str:
    """``1500`` -> "15,00 €" in German, "€15.00" in English."""
    if cents is None:
        return ""
    return format_currency(cents / 100, "EUR")


def local_datetime(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, fmt)


def weekday_name(weekday: int) -> str:
    """0 = Monday, in the reader's language."""
    return get_day_names("wide", locale=get_locale())[weekday]


def install(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(local_datetime, "local_datetime")
    app.add_template_filter(format_date, "format_date")
    app.add_template_global(weekday_name, "weekday_name")
    app.add_template_global(lambda kind: str(KIND_LABELS[kind]), "kind_label")
    app.add_template_global(lambda unit: str(UNIT_LABELS[unit]), "unit_label")
    app.add_template_global(lambda status: str(STATUS_LABELS[status]), "status_label")

    @app.context_processor
    def globals_() -> dict[str, Any]:
        return {
            "current_locale": str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"]),
            "languages": app.config["LANGUAGES"],
            "request_id": g.get("request_id"),
            "current_path": request.full_path.rstrip("?") if request else "/",
        }
