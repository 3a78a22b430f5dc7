"""Registration, log-in and log-out (HTML). Everything under ``/account`` is in
``members/account_pages.py``."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from ..core import ratelimit
from ..core.clock import now
from ..core.forms import apply_field_errors
from ..core.ratelimit import configured
from ..core.urls import safe_redirect_target
from ..errors import DomainError
from ..extensions import db, limiter
from . import service
from .forms import LoginForm, RegistrationForm

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths may be redirected to after log-in (see core.urls)."""
    return safe_redirect_target(target, url_for("main.index"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(configured("RATELIMIT_REGISTER"), methods=["POST"])
def register() -> str | Response:
    """The same answer whether the address has an account or not (the owner gets a mail
    instead, see service.register): so nobody is logged in here, and a new member logs in
    on the page this sends them to."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            service.register(
                db.session,
                email=form.email.data,
                name=form.name.data,
                password=form.password.data,
                now=now(),
                # The language this visitor sees now: their switch (cookie) or browser.
                locale=str(get_locale() or "de"),
            )
        except DomainError as exc:
            apply_field_errors(form, exc)
        else:
            flash(_("Thank you for registering. We have sent a message to %(email)s: please "
                    "open the link in it to confirm your address. Log in here to choose your "
                    "membership.", email=form.email.data.strip()), "success")
            # After logging in, a new member's first step: choosing a tier.
            return redirect(url_for("accounts.login", next=url_for("membership.index")))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(configured("RATELIMIT_LOGIN"), methods=["POST"])
def login() -> str | Response | tuple[str, int, dict[str, str]]:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        moment = now()
        # A locked address is refused before its password is even looked at, so a correct
        # guess during the lock is no different from a wrong one. The lock is per e-mail and
        # client address (core/ratelimit.py): guessing elsewhere does not lock the owner out.
        locked = ratelimit.locked_for(form.email.data, now=moment)
        if not locked:
            user = service.authenticate(
                db.session, email=form.email.data, password=form.password.data, now=moment
            )
            if user is not None:
                ratelimit.succeeded(form.email.data, now=moment)
                login_user(user, remember=form.remember.data)
                return redirect(_safe_next(request.args.get("next")))
            locked = ratelimit.failed(form.email.data, now=moment)
        if locked:
            form.form_errors.append(ratelimit.locked_message(locked))
            page = render_template("accounts/login.html", form=form)
            return page, 429, {"Retry-After": str(locked)}
        # One message for unknown address and wrong password: do not reveal which it was.
        form.form_errors.append(_("E-mail address or password is not correct."))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("main.index"))
