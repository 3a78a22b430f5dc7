"""Booking settings from the app config (views build them and pass them to services)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ..payments.states import parse_policy
from .rules import Policy
from .service import BookingSettings


def from_config(config: Mapping[str, Any]) -> BookingSettings:
    return BookingSettings(
        # The VAT rate the prices are split by is the one the pages print (``VAT_RATE_PERCENT``,
        # checked at start-up): the rules never read the config themselves.
        policy=Policy(
            max_concurrent_desks=int(config.get("MAX_CONCURRENT_DESKS", 1)),
            vat_percent=int(config.get("VAT_RATE_PERCENT", Policy.vat_percent)),
        ),
        hold=timedelta(minutes=int(config.get("BOOKING_HOLD_MINUTES", 30))),
        offer_window=timedelta(minutes=int(config.get("WAITLIST_OFFER_MINUTES", 30))),
        refund_policy=parse_policy(config.get("REFUND_POLICY")),
        payment_provider=str(config.get("PAYMENT_PROVIDER") or "simulated"),
        currency=str(config.get("CURRENCY") or BookingSettings.currency),
    )
