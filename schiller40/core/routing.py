"""URL converters shared by every blueprint."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1

# Exactly the decimal numbers 1 .. 2**31-1 without leading zeros, digit by digit of
# 2147483647: the routing regex itself refuses larger ids (see IdConverter).
_ID_REGEX = "|".join([
    r"[1-9]\d{0,8}", r"1\d{9}", r"20\d{8}", r"21[0-3]\d{7}", r"214[0-6]\d{6}",
    r"2147[0-3]\d{5}", r"21474[0-7]\d{4}", r"214748[0-2]\d{3}", r"2147483[0-5]\d{2}",
    r"21474836[0-3]\d", r"214748364[0-7]",
])


class IdConverter(IntegerConverter):
    """A row id in a path: 1 .. 2**31-1; anything else is a 404 by routing.

    Plain <int:...> let /bookings/99999999999999999999 through to the query, where SQLite
    raised OverflowError (a 500) instead of finding nothing. The range is in the regex, not
    only in min/max: Werkzeug notes the methods of every rule whose pattern matches before it
    converts, so with min/max alone PATCH /api/v1/bookings/2147483648 was a 405 (the GET rule
    matched the pattern) while the same id with GET was a 404 (found by fuzzing).
    """

    regex = f"(?:{_ID_REGEX})"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)
