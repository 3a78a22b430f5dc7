"""``/account/membership/change…`` and ``/account/membership/cancel…``: the member changes
their tier, cancels with the tier's notice, ends a fee-less membership, or withdraws a planned
change or a cancellation. Linked from the membership card of the account page. Every amount
and date is shown before the member confirms (the quotes of ``billing.changes``); pausing
stays with staff.
"""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from ..billing import changes
from ..billing.change_models import SubscriptionChange
from ..billing.settings import current_billing
from ..core.clock import now
from ..errors import DomainError
from ..extensions import db
from ..payments.setup import gateway

# The routes belong to the membership blueprint (``membership.change_page`` …) beside the
# choose-a-tier page; they live here because they are another use case.
from .membership_blueprint import bp

BACK = "account.index"


def _back() -> Response:
    return redirect(url_for(BACK) + "#membership")


def _member():  # the real object, not the proxy: services compare and lock it
    return current_user._get_current_object()


@bp.get("/account/membership/change")
@login_required
def change_page() -> str | tuple[str, int]:
    member, instant, settings = _member(), now(), current_billing()
    state = changes.state(db.session, member=member, now=instant)
    quotes, refusals = [], []
    for tier in state.offers:
        try:
            quotes.append(changes.quote_change(db.session, member=member, tier_slug=tier.slug,
                                               now=instant, settings=settings))
        except DomainError as exc:
            refusals.append((tier, exc.message, getattr(exc, "code", "")))
    return render_template("membership/change.html", state=state, quotes=quotes,
                           refusals=refusals)


@bp.post("/account/membership/change")
@login_required
def change() -> Response:
    try:
        done = changes.change_tier(
            db.session, gateway(), member=_member(), tier_slug=request.form.get("tier", ""),
            now=now(), settings=current_billing(),
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("membership.change_page"))
    if isinstance(done, SubscriptionChange) and done.kind.value == "downgrade":
        flash(_("Your change to %(tier)s is planned from %(date)s.", tier=done.to_tier.name,
                date=format_date(done.effective_on, "long")), "success")
    elif isinstance(done, SubscriptionChange):
        flash(_("Your membership is %(tier)s from %(date)s.", tier=done.to_tier.name,
                date=format_date(done.effective_on, "long")), "success")
    else:
        flash(_("Your membership is %(tier)s from %(date)s.", tier=done.tier.name,
                date=format_date(done.valid_from, "long")), "success")
    return _back()


@bp.post("/account/membership/change/withdraw")
@login_required
def withdraw_change() -> Response:
    try:
        changes.withdraw_change(db.session, gateway(), member=_member(), now=now())
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("The planned change was withdrawn; your tier stays as it is."), "success")
    return _back()


@bp.get("/account/membership/cancel")
@login_required
def cancel_page() -> str | tuple[str, int]:
    member, instant = _member(), now()
    state = changes.state(db.session, member=member, now=instant)
    try:
        quote = changes.quote_cancel(db.session, member=member, now=instant)
    except DomainError as exc:
        return render_template("membership/cancel.html", state=state, quote=None,
                               refusal=exc.message)
    return render_template("membership/cancel.html", state=state, quote=quote, refusal=None)


@bp.post("/account/membership/cancel")
@login_required
def cancel() -> Response:
    member, instant = _member(), now()
    raw = request.form.get("ends_on", "")
    try:
        expected = date.fromisoformat(raw) if raw else None
    except ValueError:
        expected = None
    try:
        if request.form.get("fee_less") == "1":
            ended = changes.end_now(db.session, member=member, now=instant)
            flash(_("Your membership ends today, %(date)s.",
                    date=format_date(ended.valid_until, "long")), "success")
        else:
            sub = changes.cancel(db.session, gateway(), member=member, now=instant,
                                 expected_end=expected)
            assert sub.cancel_at is not None
            flash(_("Your membership is cancelled. It ends on %(date)s.",
                    date=format_date(sub.cancel_at, "long")), "success")
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("membership.cancel_page"))
    return _back()


@bp.post("/account/membership/cancel/withdraw")
@login_required
def withdraw_cancellation() -> Response:
    try:
        changes.withdraw_cancellation(db.session, gateway(), member=_member(), now=now())
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Your cancellation was withdrawn; your membership continues."), "success")
    return _back()
