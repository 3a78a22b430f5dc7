"""The pure rules of changing and ending a monthly membership: when a change takes effect,
what an upgrade costs for the rest of the month, and the earliest end with the tier's notice.
No database, no Flask, no clock: every date is an argument (local calendar days,
Europe/Berlin).

- **Up** (a higher monthly fee): the new tier from tomorrow; the difference for the days
  from tomorrow to the end of this month is charged at once (a ``proration`` period):
  ``(new - old) x days / days_in_month``, half up, the same arithmetic as the first period.
  Changed on the last day of a month there is nothing left to pro-rate: the renewal on the
  1st is at the new price.
- **Down** (the same or a lower fee): from the 1st of next month, the start of the next
  period; planned until then and withdrawable.
- **Cancel** "to the end of a month with N days' notice": the notice must reach us at least N
  days before that month's last day. Given on the 10th with 14 days' notice it ends this
  month; given on the 20th it ends next month. A subscription never ends before the end of
  its first month.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from ..booking.rules import split_vat
from .rules import Charge, days_in_month, first_of_next_month, month_end, prorate


class Direction(enum.StrEnum):
    UP = "up"
    DOWN = "down"


def direction(old_monthly_cents: int, new_monthly_cents: int) -> Direction:
    """Up only for a higher fee; the same fee or a lower one waits for the next period."""
    return Direction.UP if new_monthly_cents > old_monthly_cents else Direction.DOWN


def change_effective_on(today: date, way: Direction) -> date:
    """The first day in the new tier: tomorrow (up) or the 1st of next month (down)."""
    return today + timedelta(days=1) if way is Direction.UP else first_of_next_month(today)


def upgrade_charge(
    today: date, *, old_unit_cents: int, new_unit_cents: int, quantity: int, vat_percent: int
) -> Charge | None:
    """The difference charged at once for an upgrade chosen ``today`` (from tomorrow to the
    end of this month); None when no day of this month is left to pro-rate."""
    if new_unit_cents <= old_unit_cents:
        raise ValueError("not an upgrade")
    start = today + timedelta(days=1)
    end = month_end(today)
    if start > end:
        return None
    total = days_in_month(today)
    days = (end - start).days + 1
    diff = (new_unit_cents - old_unit_cents) * quantity
    amount = prorate(diff, days, total)
    net, tax = split_vat(amount, vat_percent)
    return Charge(
        period_start=start, period_end=end, unit_amount_cents=new_unit_cents - old_unit_cents,
        quantity=quantity, days_billed=days, days_in_month=total, amount_cents=amount,
        net_cents=net, tax_cents=tax, vat_percent=vat_percent,
    )


def earliest_end(today: date, notice_days: int, *, not_before: date | None = None) -> date:
    """The earliest last day (a month's last day) for notice given ``today`` with
    ``notice_days`` days' notice to the end of a month, and not before ``not_before``."""
    if notice_days < 0:
        raise ValueError("notice_days must not be negative")
    end = month_end(today)
    while (end - today).days < notice_days or (not_before is not None and end < not_before):
        end = month_end(end + timedelta(days=1))
    return end


@dataclass(frozen=True)
class CancelTerms:
    """What a member sees before confirming a cancellation."""

    notice_days: int
    ends_on: date  # the last day of the membership (inclusive)
    last_charge_on: date  # the 1st of the last billed month (no renewal after ``ends_on``)


def cancel_terms(today: date, notice_days: int, *, starts_on: date) -> CancelTerms:
    ends_on = earliest_end(today, notice_days, not_before=month_end(starts_on))
    return CancelTerms(notice_days=notice_days, ends_on=ends_on,
                       last_charge_on=ends_on.replace(day=1))
