"""The pure rules of monthly fees: no database, no clock."""

from __future__ import annotations

from datetime import date

import pytest

from schiller40.billing import rules
from schiller40.booking.rules import credit_covers

FLEX = 8900


def test_start_today_or_the_first_of_next_month():
    assert rules.start_choices(date(2026, 12, 17)) == (date(2026, 12, 17), date(2027, 1, 1))
    assert rules.start_choices(date(2027, 2, 28)) == (date(2027, 2, 28), date(2027, 3, 1))
    with pytest.raises(rules.StartNotAllowed):
        rules.first_charge(date(2026, 12, 20), today=date(2026, 12, 17),
                           unit_amount_cents=FLEX, quantity=1, vat_percent=19)


def test_prorated_on_the_17th_of_a_31_day_month():
    charge = rules.first_charge(date(2026, 12, 17), today=date(2026, 12, 17),
                                unit_amount_cents=FLEX, quantity=1, vat_percent=19)
    # 15 of 31 days: 8900 x 15 / 31 = 4306.45... -> 4306 (half up)
    assert (charge.period_start, charge.period_end) == (date(2026, 12, 17), date(2026, 12, 31))
    assert (charge.days_billed, charge.days_in_month) == (15, 31)
    assert charge.amount_cents == 4306
    assert charge.net_cents + charge.tax_cents == 4306
    assert charge.net_cents == 3618  # 4306 / 1.19 = 3618.49 -> 3618
    assert charge.is_prorated


def test_prorated_on_the_17th_of_a_28_day_month():
    charge = rules.first_charge(date(2027, 2, 17), today=date(2027, 2, 17),
                                unit_amount_cents=FLEX, quantity=1, vat_percent=19)
    # 12 of 28 days: 8900 x 12 / 28 = 3814.28... -> 3814
    assert (charge.days_billed, charge.days_in_month, charge.amount_cents) == (12, 28, 3814)
    assert charge.period_end == date(2027, 2, 28)


def test_rounding_is_half_up_in_whole_cents():
    assert rules.prorate(100, 1, 8) == 13  # 12.5 -> 13
    assert rules.prorate(100, 1, 3) == 33  # 33.33 -> 33
    assert rules.prorate(100, 2, 3) == 67  # 66.67 -> 67
    assert rules.prorate(0, 5, 30) == 0
    with pytest.raises(ValueError):
        rules.prorate(100, 32, 31)


def test_from_the_first_a_whole_month_at_the_full_amount_times_seats():
    charge = rules.first_charge(date(2027, 1, 1), today=date(2026, 12, 17),
                                unit_amount_cents=FLEX, quantity=3, vat_percent=19)
    assert charge.amount_cents == 3 * FLEX
    assert (charge.days_billed, charge.days_in_month) == (31, 31)
    assert not charge.is_prorated
    # started on the 1st itself, "today" is a whole month too
    today = rules.first_charge(date(2027, 3, 1), today=date(2027, 3, 1),
                               unit_amount_cents=FLEX, quantity=1, vat_percent=19)
    assert today.amount_cents == FLEX


def test_renewals_across_the_december_closure_are_due_on_the_first_of_january():
    # The space is closed from Christmas to New Year: that closes the space, not the month.
    assert rules.renewals_due(date(2026, 12, 31), date(2026, 12, 31)) == []
    assert rules.renewals_due(date(2026, 12, 31), date(2027, 1, 1)) == [date(2027, 1, 1)]
    # a worker that was down for two months catches up each 1st
    assert rules.renewals_due(date(2026, 11, 30), date(2027, 1, 3)) == [
        date(2026, 12, 1), date(2027, 1, 1)]
    charge = rules.charge(date(2027, 1, 1), unit_amount_cents=FLEX, quantity=1, vat_percent=19)
    assert (charge.period_end, charge.amount_cents) == (date(2027, 1, 31), FLEX)


def test_dunning_timeline():
    policy = rules.DunningPolicy(grace_days=14, end_days=30)
    failed = date(2027, 1, 1)
    assert policy.retry_dates(failed) == [date(2027, 1, 4), date(2027, 1, 6), date(2027, 1, 8)]
    assert policy.next_retry(failed, after=date(2027, 1, 1)) == date(2027, 1, 4)
    assert policy.next_retry(failed, after=date(2027, 1, 4)) == date(2027, 1, 6)
    assert policy.next_retry(failed, after=date(2027, 1, 8)) is None
    assert policy.stage(failed, date(2027, 1, 14)) == "past_due"
    assert policy.stage(failed, date(2027, 1, 15)) == "suspended"
    assert policy.stage(failed, date(2027, 2, 13)) == "suspended"
    assert policy.stage(failed, date(2027, 2, 14)) == "ended"
    with pytest.raises(ValueError):
        rules.DunningPolicy(grace_days=5)  # a retry on day 7 would fall after the grace


def test_paid_through_is_the_unbroken_run_of_paid_periods():
    dec = (date(2026, 12, 17), date(2026, 12, 31))
    jan = (date(2027, 1, 1), date(2027, 1, 31))
    feb = (date(2027, 2, 1), date(2027, 2, 28))
    assert rules.paid_through([]) is None
    assert rules.paid_through([(*dec, True)]) == date(2026, 12, 31)
    assert rules.paid_through([(*jan, True), (*dec, True)]) == date(2027, 1, 31)
    assert rules.paid_through([(*dec, True), (*jan, False), (*feb, True)]) == date(2026, 12, 31)
    assert rules.paid_through([(*dec, False)]) is None


def test_credit_covers_only_paid_days_of_a_billed_membership():
    assert credit_covers(date(2027, 1, 5), billed=False, paid_through=None)
    assert credit_covers(date(2027, 1, 5), billed=True, paid_through=date(2027, 1, 31))
    assert not credit_covers(date(2027, 2, 1), billed=True, paid_through=date(2027, 1, 31))
    assert not credit_covers(date(2027, 1, 5), billed=True, paid_through=None)
