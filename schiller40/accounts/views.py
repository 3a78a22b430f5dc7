"""Registration, log-in, log-out and password change (HTML)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from ..core.clock import now
from ..core.urls import safe_redirect_target
from ..errors import DomainError
from ..extensions import db
from . import service
from .forms import ChangePasswordForm, LoginForm, RegistrationForm

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths may be redirected to after log-in (see core.urls)."""
    return safe_redirect_target(target, url_for("main.index"))


def _apply_field_errors(form, exc: DomainError) -> None:
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


@bp.route("/register", methods=["GET", "POST"])
def register() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            user = service.create_user(
                db.session,
                email=form.email.data,
                name=form.name.data,
                password=form.password.data,
                now=now(),
                # The language this visitor sees now: their switch (cookie) or browser.
                locale=str(get_locale() or "de"),
            )
        except DomainError as exc:
            _apply_field_errors(form, exc)
        else:
            login_user(user)
            flash(_("Welcome to Schiller40, %(name)s!", name=user.name), "success")
            return redirect(url_for("main.index"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = service.authenticate(
            db.session, email=form.email.data, password=form.password.data, now=now()
        )
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        # One message for unknown address and wrong password: do not reveal which it was.
        form.form_errors.append(_("E-mail address or password is not correct."))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("main.index"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> str | Response:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(
                db.session,
                user=current_user._get_current_object(),
                current=form.current_password.data,
                new=form.new_password.data,
                now=now(),
            )
        except DomainError as exc:
            _apply_field_errors(form, exc)
        else:
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("main.index"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/change_password.html", form=form), status
