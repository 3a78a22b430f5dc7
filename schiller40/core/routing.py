"""URL converters shared by every blueprint."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """A row id in a path: 1 .. 2**31-1; anything else is a 404 by routing.

    Plain <int:...> let /bookings/99999999999999999999 through to the query, where SQLite
    raised OverflowError (a 500) instead of finding nothing.
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)
