"""Money as people read it: integer cents shown in the reader's language and format."""

from __future__ import annotations

from flask import current_app
from flask_babel import format_currency


def money(cents: int | None) -> str:
    """``1500`` -> "15,00 €" in German, "€15.00" in English (the request's language, else the
    default); pages, flashes and service messages all use this one."""
    if cents is None:
        return ""
    return format_currency(cents / 100, current_app.config["CURRENCY"])
