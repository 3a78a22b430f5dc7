"""Notice periods, as a pure rule (no database, no Flask, no clock).

A member cancels to the end of a calendar month with the tier's notice (whole days): the
membership ends on the last day of the first month that ends at least ``notice_days`` days
after the day the member gives notice. With 0 days' notice that is the end of this month.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def last_day_when_cancelled(given_on: date, notice_days: int) -> date:
    """The last day of a membership cancelled on ``given_on`` with ``notice_days`` notice.

    E.g. 14 days' notice given on 10 March ends on 31 March; given on 20 March (only 11 days
    left in March) it ends on 30 April.
    """
    if notice_days < 0:
        raise ValueError("notice_days must not be negative")
    return month_end(given_on + timedelta(days=notice_days))
