"""What the booking use cases are configured with, and how it is read from the app config
(views and the worker build the settings and pass them to the use cases)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app

from ..payments.states import DEFAULT_POLICY as DEFAULT_REFUND_POLICY
from ..payments.states import RefundStep, parse_policy
from ..resources.models import ResourceKind
from .rules import Policy


@dataclass(frozen=True)
class BookingSettings:
    policy: Policy = field(default_factory=Policy)
    # How long an unpaid booking keeps its slot while the member pays.
    hold: timedelta = timedelta(minutes=30)
    # How long a waitlist offer reserves a freed slot for the member it was offered to.
    offer_window: timedelta = timedelta(minutes=30)
    # What a cancelled paid booking gets back, by resource kind.
    refund_policy: Mapping[ResourceKind, tuple[RefundStep, ...]] = field(
        default_factory=lambda: dict(DEFAULT_REFUND_POLICY)
    )
    # The gateway new payments are opened with ("stripe" or "simulated").
    payment_provider: str = "simulated"
    # The currency payments are opened in (``CURRENCY``, checked at start-up).
    currency: str = "EUR"


DEFAULT_SETTINGS = BookingSettings()


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


def current_settings() -> BookingSettings:
    """The settings of the app serving this request: what every page hands its use case."""
    return from_config(current_app.config)
