"""Account forms. Validation messages appear beside the fields; nothing is written on error."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    ValidationError,
)

from ..core.forms import no_nul
from .passwords import MAX_LENGTH, weakness


def strip(value: str | None) -> str | None:
    """Drop surrounding spaces before validation: autocomplete and copied addresses often
    bring a trailing space, which the e-mail validator would otherwise call invalid."""
    return value.strip() if isinstance(value, str) else value


def new_password_field(label: Any) -> PasswordField:
    """A new password: the strength rules are the service's (``passwords.weakness``); the
    form only asks for one and caps its length."""
    return PasswordField(
        label,
        validators=[DataRequired(_l("Please choose a password.")), Length(max=MAX_LENGTH)],
        description=_l("At least 10 characters. A few unrelated words make a good password."),
        render_kw={"autocomplete": "new-password"},
    )


def repeat_password_field(label: Any, of: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(_l("Please repeat the password.")),
            EqualTo(of, _l("The passwords do not match.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class RegistrationForm(FlaskForm):
    name = StringField(
        _l("Full name"),
        filters=[strip],
        validators=[DataRequired(_l("Please enter your name.")), Length(max=200)],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        _l("E-mail address"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please enter your e-mail address.")),
            Length(max=254),
            Email(_l("Please enter a valid e-mail address."), check_deliverability=False),
        ],
        render_kw={"autocomplete": "email"},
    )
    password = new_password_field(_l("Password"))
    password_confirm = repeat_password_field(_l("Repeat password"), "password")

    def validate_password(self, field: PasswordField) -> None:
        reason = weakness(field.data or "", email=self.email.data or "", name=self.name.data or "")
        if reason:
            raise ValidationError(reason)


class LoginForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"),
        filters=[strip],
        validators=[DataRequired(_l("Please enter your e-mail address.")), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Please enter your password.")), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Stay logged in on this device"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Please enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = new_password_field(_l("New password"))
    new_password_confirm = repeat_password_field(_l("Repeat new password"), "new_password")


class ProfileForm(FlaskForm):
    """Name and preferred language, on the account page."""

    name = StringField(
        _l("Full name"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please enter your name.")),
            Length(max=200, message=_l("Use at most %(max)d characters.")),
            no_nul,
        ],
        render_kw={"autocomplete": "name"},
    )
    locale = SelectField(
        _l("Language for pages and messages"),
        choices=[
            SelectChoice("de", "Deutsch", render_kw={"lang": "de"}),
            SelectChoice("en", "English", render_kw={"lang": "en"}),
        ],
        validators=[
            InputRequired(_l("Please choose a language from the list.")),
            AnyOf(["de", "en"], message=_l("Please choose a language from the list.")),
        ],
        validate_choice=False,
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        _l("Your password"),
        validators=[
            DataRequired(_l("Please enter your password to confirm.")),
            Length(max=MAX_LENGTH),
        ],
        description=_l("To confirm that it is you who deletes this account."),
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(FlaskForm):
    """Ask for a reset link: only the address."""

    email = EmailField(
        _l("E-mail address"),
        filters=[strip],
        validators=[
            DataRequired(_l("Please enter your e-mail address.")),
            Length(max=254),
            Email(_l("Please enter a valid e-mail address."), check_deliverability=False),
        ],
        description=_l("The address you registered with."),
        render_kw={"autocomplete": "email"},
    )


class ResetPasswordForm(FlaskForm):
    """The new password, on the page the reset link opens."""

    new_password = new_password_field(_l("New password"))
    new_password_confirm = repeat_password_field(_l("Repeat new password"), "new_password")
