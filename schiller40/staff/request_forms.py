"""The forms that answer a membership request, shared by the requests list
(``membership_requests.py``) and the member's page (``members.py``)."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, TextAreaField
from wtforms.validators import InputRequired, Length, ValidationError

from ..core.forms import no_nul
from ..membership import signup


class ConfirmRequestForm(FlaskForm):
    valid_from = DateField(
        _l("Membership starts on"), validators=[InputRequired(_l("Please enter a date."))],
        description=_l("Today or later. A membership running on that day ends the day before."),
    )


class DeclineRequestForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for the member"),
        validators=[Length(max=signup.MESSAGE_MAX), no_nul],
        description=_l("The member reads it in the mail."),
    )

    def validate_reason(self, field: TextAreaField) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Please tell the member why."))


def request_forms(
    request_id: int, *, default_start: date | None = None
) -> tuple[ConfirmRequestForm, DeclineRequestForm]:
    """The two answer forms of one request; the prefix keeps their ids apart on a page that
    lists several requests. ``default_start`` fills in an empty start date (today)."""
    confirm = ConfirmRequestForm(prefix=f"confirm-{request_id}")
    if default_start is not None and confirm.valid_from.data is None:
        confirm.valid_from.data = default_start
    return confirm, DeclineRequestForm(prefix=f"decline-{request_id}")
