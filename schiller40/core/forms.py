"""Form validators and error placement shared by every page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import flash
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import ValidationError

from ..errors import DomainError
from .clock import now

# How far ahead the booking and staff calendar forms accept dates: no tier books further, and
# far-off years would overflow the time arithmetic.
MAX_AHEAD_DAYS = 730


def no_nul(form: Any, field: Any) -> None:
    """PostgreSQL cannot store a NUL character in text; refuse it as an input error here
    rather than fail (500) when the row is written."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError(_l("This field contains a character that is not allowed."))


def bookable_day_error(day: date, today: date) -> Any | None:
    """Why ``day`` cannot be booked from a form, or None: in the past, or more than two years
    ahead. Yesterday still passes: ``today`` is the server's date, and a member's own day may
    lag behind it; the booking rules then say whether the time has begun."""
    if day < today - timedelta(days=1):
        return _l("This date is in the past. Please choose today or a later date.")
    if day > today + timedelta(days=MAX_AHEAD_DAYS):
        return _l("Please choose a date within the next two years.")
    return None


def bookable_day(form: Any, field: Any) -> None:
    """A form validator: the date field holds a day that can be booked (see above)."""
    if field.data is not None and (error := bookable_day_error(field.data, now().date())):
        raise ValidationError(error)


def apply_field_errors(form: Any, exc: DomainError) -> None:
    """Show a service's refusal beside the fields it names, the rest above the form.

    A message for a field the form does not have goes above the form too: dropped, it would
    leave a page that neither says what went wrong nor answers 422.
    """
    shown_beside_a_field = False
    for name, messages in exc.fields.items():
        field = form._fields.get(name)
        if field is not None:
            field.errors = [*field.errors, *messages]
            shown_beside_a_field = True
        else:
            form.form_errors.extend(m for m in messages if m not in form.form_errors)
    if not shown_beside_a_field and exc.message not in form.form_errors:
        form.form_errors.insert(0, exc.message)


def refusal_beside_fields(form: Any, exc: DomainError) -> bool:
    """Put a service's refusal where the member reads it, for a form posted from a page that
    shows several forms: True if it names fields (shown beside them: render the page again,
    422), False if it does not (flashed: redirect back to the page). Not found stays an
    error (404) and goes on up."""
    if exc.status == 404:
        raise exc
    if not exc.fields:
        flash(exc.message, "error")
        return False
    apply_field_errors(form, exc)
    return True
# --- amounts in euros (the tier and the front desk forms) ---------------------------------


_AMOUNT = re.compile(r"^\d{1,9}(\.\d{1,2})?$")


def parse_euros(text: str) -> int:
    """Euros as typed by people ("12,50", "12.50", "1.234,50", "12 €") to integer cents.

    Raises ValueError for anything else, including negative amounts and fractions of a
    cent. With both separators, the last one is the decimal separator.
    """
    value = text.strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    if "," in value and "." in value:
        decimal = "," if value.rfind(",") > value.rfind(".") else "."
        value = value.replace("." if decimal == "," else ",", "").replace(decimal, ".")
    else:
        value = value.replace(",", ".")
    if not _AMOUNT.match(value):
        raise ValueError(value)
    return int(Decimal(value) * 100)


def format_euros(cents: int) -> str:
    """Cents as an input value in the reader's language, without thousands separators."""
    separator = "," if str(get_locale() or "de").startswith("de") else "."
    return f"{cents // 100}{separator}{cents % 100:02d}"


class MoneyField(StringField):
    """An amount in euros; ``data`` is integer cents (None when left empty). What was typed
    is shown again unchanged when it could not be read."""

    def process_formdata(self, valuelist: list[str]) -> None:
        raw = valuelist[0] if valuelist else ""
        if not raw.strip():
            self.data = None
            return
        try:
            self.data = parse_euros(raw)
        except ValueError as exc:
            self.data = None
            raise ValueError(_("Please enter an amount in euros, e.g. 12,50.")) from exc

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_euros(self.data) if isinstance(self.data, int) else ""
