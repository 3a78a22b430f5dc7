"""How a booking's time reads on the pages: the day once, then both times, per language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask_babel import force_locale

from schiller40.templating import time_range

MORNING = (datetime(2026, 11, 24, 8, tzinfo=UTC), datetime(2026, 11, 24, 10, tzinfo=UTC))
NIGHT = (datetime(2026, 11, 24, 22, tzinfo=UTC), datetime(2026, 11, 25, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("locale", "span", "expected"),
    [
        ("de", MORNING, "Di., 24. Nov. 2026, 09:00\u201311:00"),
        ("de", NIGHT, "Di., 24. Nov. 2026, 23:00\u2013Mi., 25. Nov. 2026, 02:00"),
        ("en", MORNING, "Tue, Nov 24, 2026, 9:00\u202fAM\u201311:00\u202fAM"),
    ],
)
def test_a_time_range_names_the_day_once_in_berlin_time(app, locale, span, expected):
    with app.test_request_context(), force_locale(locale):
        assert time_range(*span) == expected
    assert time_range(None, span[1]) == ""
