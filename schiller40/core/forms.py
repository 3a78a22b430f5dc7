"""Form validators shared by every page."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError


def no_nul(form: Any, field: Any) -> None:
    """PostgreSQL cannot store a NUL character in text; refuse it as an input error here
    rather than fail (500) when the row is written."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError(_l("This field contains a character that is not allowed."))
