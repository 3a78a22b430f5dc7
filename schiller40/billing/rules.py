"""The pure rules of monthly fees: periods, the first (pro-rated) amount, the dunning
timeline. No database, no Flask, no clock: every date is an argument (local calendar days,
Europe/Berlin).

Periods run from the 1st to the last day of a month (Stripe: ``billing_cycle_anchor`` on the
1st). A subscription starts today or on the 1st of next month. Started today, the first
period runs to the end of this month and costs the monthly amount pro-rated by days:
``amount x days_billed / days_in_month``, rounded half up to the cent (integer arithmetic,
no floats). Started on the 1st, the first period is a whole month at the full amount.

Renewals are due on the 1st of each month whatever the space's opening hours say: the
December closure (Christmas to New Year) closes the space, not the month, so a renewal is
still due on 1 January.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from ..booking.rules import split_vat


class StartNotAllowed(ValueError):
    """The chosen start is neither today nor the 1st of next month."""


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def month_end(day: date) -> date:
    return day.replace(day=days_in_month(day))


def first_of_next_month(day: date) -> date:
    return month_end(day) + timedelta(days=1)


def start_choices(today: date) -> tuple[date, date]:
    """The days a subscription may start: today, or the 1st of next month."""
    return today, first_of_next_month(today)


def prorate(amount_cents: int, days: int, days_in_period: int) -> int:
    """``amount x days / days_in_period`` in whole cents, rounded half up."""
    if not 0 <= days <= days_in_period or days_in_period <= 0 or amount_cents < 0:
        raise ValueError("days out of range")
    return (2 * amount_cents * days + days_in_period) // (2 * days_in_period)


@dataclass(frozen=True)
class Charge:
    """One period's charge, with how it came about (what a ``BillingPeriod`` stores)."""

    period_start: date
    period_end: date  # inclusive
    unit_amount_cents: int
    quantity: int
    days_billed: int
    days_in_month: int
    amount_cents: int  # gross
    net_cents: int
    tax_cents: int
    vat_percent: int

    @property
    def is_prorated(self) -> bool:
        return self.days_billed < self.days_in_month


def charge(
    period_start: date, *, unit_amount_cents: int, quantity: int, vat_percent: int
) -> Charge:
    """The charge for the period from ``period_start`` to the end of its month: the full
    amount from a 1st, else pro-rated by days."""
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    end = month_end(period_start)
    total_days = days_in_month(period_start)
    days = (end - period_start).days + 1
    amount = prorate(unit_amount_cents * quantity, days, total_days)
    net, tax = split_vat(amount, vat_percent)
    return Charge(
        period_start=period_start, period_end=end, unit_amount_cents=unit_amount_cents,
        quantity=quantity, days_billed=days, days_in_month=total_days, amount_cents=amount,
        net_cents=net, tax_cents=tax, vat_percent=vat_percent,
    )


def first_charge(
    starts_on: date, *, today: date, unit_amount_cents: int, quantity: int, vat_percent: int
) -> Charge:
    """The first period's charge for a start on ``starts_on`` chosen ``today``."""
    if starts_on not in start_choices(today):
        raise StartNotAllowed(starts_on)
    return charge(
        starts_on, unit_amount_cents=unit_amount_cents, quantity=quantity,
        vat_percent=vat_percent,
    )


def next_period_start(period_end: date) -> date:
    return period_end + timedelta(days=1)


def renewals_due(current_period_end: date, today: date) -> list[date]:
    """The 1sts of the periods that have begun by ``today`` after the current one (more than
    one only when billing was not run for a whole month)."""
    starts = []
    start = next_period_start(current_period_end)
    while start <= today:
        starts.append(start)
        start = first_of_next_month(start)
    return starts


# --- dunning ----------------------------------------------------------------------------------

# Retries after a failed charge, in days after the first failure.
RETRY_DAYS = (3, 5, 7)


@dataclass(frozen=True)
class DunningPolicy:
    """After the first failed charge: retries on ``retry_days``; from ``grace_days`` on the
    subscription is suspended; ``end_days`` after that it ends."""

    grace_days: int = 14
    end_days: int = 30
    retry_days: tuple[int, ...] = RETRY_DAYS

    def __post_init__(self) -> None:
        if self.grace_days < 1 or self.end_days < 1:
            raise ValueError("grace_days and end_days must be at least 1")
        if any(d < 1 or d >= self.grace_days for d in self.retry_days):
            raise ValueError("retries must fall within the grace period")

    def suspend_on(self, past_due_since: date) -> date:
        return past_due_since + timedelta(days=self.grace_days)

    def end_on(self, past_due_since: date) -> date:
        return self.suspend_on(past_due_since) + timedelta(days=self.end_days)

    def retry_dates(self, past_due_since: date) -> list[date]:
        return [past_due_since + timedelta(days=d) for d in self.retry_days]

    def next_retry(self, past_due_since: date, after: date) -> date | None:
        """The first retry day after ``after`` (None: no retry left)."""
        return next((d for d in self.retry_dates(past_due_since) if d > after), None)

    def stage(self, past_due_since: date, today: date) -> str:
        """Where an unpaid subscription stands on ``today``: past_due, suspended or ended."""
        if today >= self.end_on(past_due_since):
            return "ended"
        if today >= self.suspend_on(past_due_since):
            return "suspended"
        return "past_due"


def paid_through(periods: list[tuple[date, date, bool]]) -> date | None:
    """The last day of the unbroken run of paid periods from the first one: ``periods`` are
    (start, end, paid), in any order. A paid period after an unpaid one does not count
    (credit needs every day before it paid too)."""
    last: date | None = None
    for start, end, paid in sorted(periods):
        if not paid or (last is not None and start > last + timedelta(days=1)):
            break
        last = max(end, last) if last else end
    return last

