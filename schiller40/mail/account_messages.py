"""Messages about the account itself: confirm the e-mail address, reset the password, and
"someone tried to register with your address".

The links are made here, when the mail is composed, and never stored (see accounts.links):
the outbox holds only the user id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..accounts import links
from ..accounts.models import User
from .catalog import message
from .compose import Mail, can_receive, render


def _user(session: Session, payload: dict[str, Any]) -> User | None:
    user_id = payload.get("user_id")
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    return user if can_receive(user) else None


@message("mail.verify_email")
def verify_email(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """After registration (and when the member asks again): the link that confirms the
    address. Nothing to say once it is confirmed or the account is gone."""
    user = _user(session, payload)
    if user is None or user.email_verified_at is not None:
        return None
    token = links.verify_token(user, secret_key=current_app.config["SECRET_KEY"], now=now)
    return render(
        "verify_email",
        to=user,
        link=url_for("account.verify_email", token=token, _external=True),
        days=links.VERIFY_MAX_AGE.days,
        subject=lambda: _("Please confirm your e-mail address"),
    )


@message("mail.password_reset")
def password_reset(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """The link to set a new password: works for an hour, and once."""
    user = _user(session, payload)
    if user is None:
        return None
    token = links.reset_token(user, secret_key=current_app.config["SECRET_KEY"], now=now)
    return render(
        "password_reset",
        to=user,
        link=url_for("account.reset_password", token=token, _external=True),
        minutes=int(links.RESET_MAX_AGE.total_seconds() // 60),
        subject=lambda: _("Reset your Schiller40 password"),
    )


@message("mail.already_registered")
def already_registered(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Someone registered with an address that has an account. The visitor was told nothing
    of it; the owner learns here, with the ways in: log in, or choose a new password. No
    secret link: whoever asked may not be the owner, and the reset form mails its own."""
    user = _user(session, payload)
    if user is None:
        return None
    return render(
        "already_registered",
        to=user,
        login_link=url_for("accounts.login", _external=True),
        reset_link=url_for("account.forgot_password", _external=True),
        subject=lambda: _("You already have a Schiller40 account"),
    )
