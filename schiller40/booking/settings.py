"""What the booking use cases are configured with, read from the app config once per app.

``create_app`` builds the settings when the config has been checked (``install``); views, the
API, the CLI and the worker hand ``current_settings()`` to the use cases, which never read the
config themselves. Built once, not per request: the config cannot change under a running app,
and 29 places each parsing the refund policy again was both slower and a way for two places to
disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask, current_app

from ..payments.states import DEFAULT_POLICY as DEFAULT_REFUND_POLICY
from ..payments.states import RefundStep, parse_policy
from ..resources.models import ResourceKind
from .rules import Policy


@dataclass(frozen=True)
class BookingSettings:
    policy: Policy = field(default_factory=Policy)
    # How long an unpaid booking keeps its slot while the member pays.
    hold: timedelta = timedelta(minutes=30)
    # How long a paid booking staff made for a member keeps its slot while the member pays
    # online from the mail (``STAFF_HOLD_HOURS``).
    staff_hold: timedelta = timedelta(hours=24)
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
    # How long after its start a desk booking not checked in is kept (``CHECKIN_GRACE_MINUTES``).
    checkin_grace: timedelta = timedelta(minutes=90)


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
        staff_hold=timedelta(hours=int(config.get("STAFF_HOLD_HOURS", 24))),
        offer_window=timedelta(minutes=int(config.get("WAITLIST_OFFER_MINUTES", 30))),
        refund_policy=parse_policy(config.get("REFUND_POLICY")),
        payment_provider=str(config.get("PAYMENT_PROVIDER") or "simulated"),
        currency=str(config.get("CURRENCY") or BookingSettings.currency),
        checkin_grace=timedelta(minutes=max(int(config.get("CHECKIN_GRACE_MINUTES", 90)), 0)),
    )


_KEY = "schiller40.booking_settings"


def install(app: Flask) -> None:
    """Build the app's settings once, after ``settings.load`` has checked the config."""
    app.extensions[_KEY] = from_config(app.config)


def current_settings() -> BookingSettings:
    """The settings of the current app: what every page, job and command hands its use case."""
    return current_app.extensions[_KEY]
