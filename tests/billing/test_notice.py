"""The pure rules of changing and cancelling: direction, effective day, the upgrade's
pro-rated difference and the earliest end with notice."""

from __future__ import annotations

from datetime import date

import pytest

from schiller40.billing import notice
from schiller40.billing.notice import Direction


def test_a_higher_fee_is_up_from_tomorrow_anything_else_down_from_the_first():
    assert notice.direction(8900, 14900) is Direction.UP
    assert notice.direction(8900, 8900) is Direction.DOWN
    assert notice.direction(8900, 4900) is Direction.DOWN
    assert notice.change_effective_on(date(2026, 12, 17), Direction.UP) == date(2026, 12, 18)
    assert notice.change_effective_on(date(2026, 12, 17), Direction.DOWN) == date(2027, 1, 1)
    assert notice.change_effective_on(date(2026, 12, 31), Direction.UP) == date(2027, 1, 1)


def test_upgrade_on_the_17th_charges_the_difference_for_the_14_days_left_exactly():
    charge = notice.upgrade_charge(date(2026, 12, 17), old_unit_cents=8900,
                                   new_unit_cents=14900, quantity=1, vat_percent=19)
    assert charge is not None
    # 6000 x 14 / 31 = 2709.68 -> 2710 (half up), 19 % VAT included
    assert (charge.period_start, charge.period_end) == (date(2026, 12, 18), date(2026, 12, 31))
    assert (charge.days_billed, charge.days_in_month) == (14, 31)
    assert charge.amount_cents == 2710
    assert charge.net_cents + charge.tax_cents == 2710
    assert charge.tax_cents == 433  # 2710 - round(2710 / 1.19)


def test_upgrade_in_february_and_on_the_last_day():
    feb = notice.upgrade_charge(date(2027, 2, 14), old_unit_cents=8900, new_unit_cents=14900,
                                quantity=1, vat_percent=19)
    assert feb is not None and feb.days_billed == 14 and feb.amount_cents == 3000
    assert notice.upgrade_charge(date(2026, 12, 31), old_unit_cents=8900,
                                 new_unit_cents=14900, quantity=1, vat_percent=19) is None
    with pytest.raises(ValueError):
        notice.upgrade_charge(date(2026, 12, 17), old_unit_cents=8900, new_unit_cents=8900,
                              quantity=1, vat_percent=19)


@pytest.mark.parametrize(("today", "days", "ends_on"), [
    (date(2027, 1, 10), 14, date(2027, 1, 31)),  # 21 days left: this month
    (date(2027, 1, 20), 14, date(2027, 2, 28)),  # 11 days left: next month
    (date(2027, 1, 17), 14, date(2027, 1, 31)),  # exactly 14 days before the end
    (date(2027, 1, 18), 14, date(2027, 2, 28)),
    (date(2027, 2, 20), 14, date(2027, 3, 31)),
    (date(2027, 1, 31), 0, date(2027, 1, 31)),
    (date(2027, 1, 10), 90, date(2027, 4, 30)),
])
def test_earliest_end_to_the_end_of_a_month_with_notice(today, days, ends_on):
    assert notice.earliest_end(today, days) == ends_on


def test_no_end_before_the_end_of_the_first_month():
    terms = notice.cancel_terms(date(2026, 12, 20), 0, starts_on=date(2027, 1, 1))
    assert terms.ends_on == date(2027, 1, 31)
    assert terms.last_charge_on == date(2027, 1, 1)
    with pytest.raises(ValueError):
        notice.earliest_end(date(2027, 1, 1), -1)
