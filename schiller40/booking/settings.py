"""Booking settings from the app config (views build them and pass them to services)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from .service import BookingSettings


def from_config(config: Mapping[str, Any]) -> BookingSettings:
    return BookingSettings(
        hold=timedelta(minutes=int(config.get("BOOKING_HOLD_MINUTES", 15))),
        offer_window=timedelta(minutes=int(config.get("WAITLIST_OFFER_MINUTES", 30))),
    )
