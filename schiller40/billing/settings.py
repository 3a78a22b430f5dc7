"""What the billing use cases are configured with (checked at start-up in ``settings.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from .rules import DunningPolicy

DEFAULT_GRACE_DAYS = 14
DEFAULT_END_DAYS = 30
DEFAULT_NOTICE_DAYS = 5


@dataclass(frozen=True)
class BillingSettings:
    vat_percent: int = 19
    currency: str = "EUR"
    policy: DunningPolicy = field(default_factory=DunningPolicy)
    # Days before a charge on which the member is told (SEPA: the pre-notification).
    notice_days: int = DEFAULT_NOTICE_DAYS
    # The SEPA creditor identifier printed in every pre-notification.
    creditor_id: str | None = None


def from_config(config: Mapping[str, Any]) -> BillingSettings:
    return BillingSettings(
        vat_percent=int(config.get("VAT_RATE_PERCENT", 19)),
        currency=str(config.get("CURRENCY") or "EUR"),
        policy=DunningPolicy(
            grace_days=int(config.get("DUNNING_GRACE_DAYS", DEFAULT_GRACE_DAYS)),
            end_days=int(config.get("DUNNING_END_DAYS", DEFAULT_END_DAYS)),
        ),
        notice_days=int(config.get("BILLING_NOTICE_DAYS", DEFAULT_NOTICE_DAYS)),
        creditor_id=str(config.get("SEPA_CREDITOR_ID") or "") or None,
    )


def current_billing() -> BillingSettings:
    return from_config(current_app.config)
