"""Everything under ``/account``: the account page (profile, membership and credit left,
company, calendar feeds), the password (change, or reset by a link from a mail), confirming
the e-mail address, and the member's data: download it all, or delete the account (GDPR).

The account page and the data reach accounts, bookings, payments and calendar feeds at once,
so these pages live here, above all of them; log-in and registration stay in
``accounts/views.py``.
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from ..accounts import service, verification
from ..accounts.forms import (
    ChangePasswordForm,
    DeleteAccountForm,
    ForgotPasswordForm,
    ProfileForm,
    ResetPasswordForm,
)
from ..billing import changes as billing_changes
from ..booking.settings import current_settings
from ..core import ratelimit
from ..core.clock import now
from ..core.forms import apply_field_errors
from ..core.money import money
from ..core.ratelimit import configured
from ..core.urls import safe_redirect_target
from ..errors import DomainError
from ..extensions import db, limiter
from ..feeds import service as feed_service
from ..feeds.queries import feed_name
from ..feeds.urls import feed_url, webcal_url
from ..i18n import remember_language
from ..payments.setup import gateway
from . import privacy
from .overview import account_overview

bp = Blueprint("account", __name__)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def index() -> str | tuple[str, int] | Response:
    """The member's account: profile form (POST here), membership and credit left this month,
    company, calendar feeds, and the ways to their data (export, deletion)."""
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            service.update_profile(
                db.session, actor=current_user._get_current_object(),
                user=current_user._get_current_object(), name=form.name.data,
                locale=form.locale.data, now=now(),
            )
        except DomainError as exc:
            apply_field_errors(form, exc)
        else:
            flash(_("Your details have been saved."), "success")
            return redirect(url_for("account.index"))
    instant = now()
    feeds = feed_service.feeds_for(db.session, user=current_user, now=instant)
    rows = []
    for f in feeds:
        url = feed_url(f)
        rows.append({"feed": f, "name": feed_name(f), "url": url,
                     "webcal": webcal_url(url)})
    overview = account_overview(db.session, user=current_user, now=instant)
    body = render_template(
        "account/index.html", feeds=rows, overview=overview, form=form,
        format_decimal=format_decimal,
        membership_state=billing_changes.state(
            db.session, member=current_user._get_current_object(), now=instant),
    )
    return (body, 422) if form.errors or form.form_errors else body


@bp.post("/account/feeds/<id:feed_id>/rotate")
@login_required
def rotate_feed(feed_id: int) -> Response:
    feed_service.rotate(db.session, user=current_user, feed_id=feed_id, now=now())
    flash(_("The calendar has a new address. Subscribe again with the new one; the old one "
            "no longer works."), "success")
    return redirect(url_for("account.index") + "#feeds")


@bp.post("/account/feeds/<id:feed_id>/revoke")
@login_required
def revoke_feed(feed_id: int) -> Response:
    feed_service.revoke(db.session, user=current_user, feed_id=feed_id, now=now())
    flash(_("The calendar address is switched off."), "success")
    return redirect(url_for("account.index") + "#feeds")


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
            apply_field_errors(form, exc)
        else:
            # The new password logs out every other browser (User.get_id); this one stays
            # logged in, with its "stay logged in" cookie renewed if it had one.
            login_user(current_user._get_current_object(),
                       remember=bool(request.cookies.get(
                           current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))))
            flash(_("Your password has been changed. Other browsers where you were logged "
                    "in have been logged out."), "success")
            return redirect(url_for("main.index"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/change_password.html", form=form), status


@bp.get("/account/export.json")
@login_required
def export() -> Response:
    """Everything we store about the member, as a file (GDPR art. 15 and 20)."""
    instant = now()
    data = privacy.export_data(db.session, user=current_user, now=instant)
    response = Response(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n",
        mimetype="application/json",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{privacy.export_filename(instant)}"'
    )
    # Personal data: never kept by a shared proxy or the browser's cache.
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response


@bp.route("/account/delete", methods=["GET", "POST"])
@login_required
def delete_account() -> str | tuple[str, int] | Response:
    """Explain what deleting does (refunds first), then delete on the password (art. 17)."""
    form = DeleteAccountForm()
    settings = current_settings()
    status = 200
    if form.validate_on_submit():
        me = current_user._get_current_object()
        # The member's language, read while they are still logged in: afterwards the
        # confirmation and the page after it would fall back to the browser's.
        locale = str(get_locale() or "de")
        try:
            report = privacy.delete_account(
                db.session, gateway(), actor=me, user=me, password=form.password.data,
                now=now(), settings=settings,
            )
        except DomainError as exc:
            apply_field_errors(form, exc)
            status = exc.status
        else:
            logout_user()
            with force_locale(locale):
                if report.refund_cents:
                    flash(_("Your account has been deleted. %(amount)s will be refunded to "
                            "your card (this takes a few days).",
                            amount=money(report.refund_cents)), "success")
                else:
                    flash(_("Your account has been deleted."), "success")
            return remember_language(redirect(url_for("main.index")), locale)
    if form.errors and status == 200:
        status = 422
    preview = privacy.deletion_preview(
        db.session, user=current_user, now=now(), settings=settings
    )
    body = render_template("account/delete.html", form=form, preview=preview)
    return (body, status) if status != 200 else body


def _link_problem(kind: str, reason: str) -> tuple[str, int]:
    """The page for a link from a mail that does not work, with the way to a new one."""
    return render_template("accounts/link_problem.html", kind=kind, reason=reason), 400


def _private(response: Response) -> Response:
    """Pages opened by a secret link: never cached, the link never sent on as a referrer."""
    response.cache_control.no_store = True
    response.cache_control.private = True
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/account/verify/<token>")
def verify_email(token: str) -> Response:
    """The link in the confirmation mail. Works logged in or not: the token is the proof."""
    try:
        user = verification.verify_email(
            db.session, token=token, secret_key=current_app.config["SECRET_KEY"], now=now()
        )
    except verification.InvalidLink as exc:
        body, status = _link_problem("verify", exc.reason)
        return _private(Response(body, status=status, mimetype="text/html"))
    return _private(Response(render_template("accounts/email_verified.html", user=user),
                             mimetype="text/html"))


@bp.post("/account/verify/resend")
@limiter.limit(configured("RATELIMIT_RESEND_VERIFICATION"))
@login_required
def resend_verification() -> Response:
    """"Send the link again" (account page, page notice)."""
    target = safe_redirect_target(request.form.get("next"), url_for("account.index"))
    try:
        verification.resend_verification(
            db.session, actor=current_user._get_current_object(), now=now()
        )
    except verification.AlreadyVerified as exc:
        flash(exc.message, "info")
    except verification.TooSoon as exc:
        flash(exc.message, "error")
    else:
        flash(_("We have sent a new link to %(email)s. It works for 7 days.",
                email=current_user.email), "success")
    return redirect(target)


@bp.route("/account/reset", methods=["GET", "POST"])
@limiter.limit(configured("RATELIMIT_PASSWORD_RESET"), methods=["POST"])
def forgot_password() -> str | tuple[str, int]:
    """Ask for a reset link. The answer is the same whether an account has the address."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        verification.request_password_reset(db.session, email=form.email.data, now=now())
        return render_template("accounts/reset_sent.html")
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/forgot_password.html", form=form), status


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Response:
    """The link in the reset mail: a form for the new password, then off to log in."""
    secret_key = current_app.config["SECRET_KEY"]
    try:
        user = verification.check_reset_link(
            db.session, token=token, secret_key=secret_key, now=now()
        )
    except verification.InvalidLink as exc:
        body, status = _link_problem("reset", exc.reason)
        return _private(Response(body, status=status, mimetype="text/html"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            done = verification.reset_password(
                db.session, token=token, new=form.new_password.data,
                secret_key=secret_key, now=now(),
            )
        except verification.InvalidLink as exc:
            body, status = _link_problem("reset", exc.reason)
            return _private(Response(body, status=status, mimetype="text/html"))
        except DomainError as exc:
            apply_field_errors(form, exc)
        else:
            # Whoever proved they read the mail may log in at once, wherever they are: every
            # lock and count of the lockout for this address goes with the old password.
            ratelimit.cleared(done.email, now=now())
            if current_user.is_authenticated:
                logout_user()  # whoever was logged in here logs in again, with the new password
            flash(_("Your new password is set. Please log in with it."), "success")
            return redirect(url_for("accounts.login"))
    status = 422 if form.errors or form.form_errors else 200
    body = render_template("accounts/reset_password.html", form=form, user=user)
    return _private(Response(body, status=status, mimetype="text/html"))
