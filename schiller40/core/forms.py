"""Form validators and error placement shared by every page."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

from ..errors import DomainError


def no_nul(form: Any, field: Any) -> None:
    """PostgreSQL cannot store a NUL character in text; refuse it as an input error here
    rather than fail (500) when the row is written."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError(_l("This field contains a character that is not allowed."))


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
