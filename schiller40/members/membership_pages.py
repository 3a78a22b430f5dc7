"""``/account/membership``: the member chooses a tier, or asks for one.

The page lists the tiers on offer as the price list does, each with what the member can do:
choose it at once (self-service without a monthly fee), take it as a monthly subscription
(self-service with a fee; the subscription pages of ``billing`` do that), ask for it
(on request: staff confirm or decline) or ask the team (staff only). A member who already
has a membership sees it, and an open request, here too.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from ..booking.settings import current_settings
from ..core.clock import now
from ..core.forms import no_nul, refusal_beside_fields
from ..errors import DomainError
from ..extensions import db
from ..membership import signup
from ..membership.notice import last_day_when_cancelled
from ..membership.price_list import active_tiers, kind_prices
from ..membership.service import today
from .membership_blueprint import bp


class ChooseForm(FlaskForm):
    """Only the CSRF token."""


class RequestForm(FlaskForm):
    message = TextAreaField(
        _l("Message to the team (optional)"),
        description=_l("For example your company, since when you would like the tier, or "
                       "questions about the contract."),
        validators=[Optional(), Length(max=signup.MESSAGE_MAX), no_nul],
    )


def _request_form(tier_id: int) -> RequestForm:
    # One form per tier on the page: the prefix keeps their fields' ids apart.
    return RequestForm(prefix=f"tier-{tier_id}")


def _subscription_url(slug: str) -> str:
    """The sign-up page for a tier with a monthly fee (start day, amounts, payment method)."""
    return url_for("subscriptions.start", slug=slug)


def _page(forms: dict[int, RequestForm] | None = None, status: int = 200) -> tuple[str, int]:
    instant = now()
    day = today(instant)
    user_id = current_user.id
    held = signup.current_and_planned(db.session, user_id, day)
    tiers = active_tiers(db.session)
    forms = forms or {}
    for tier in tiers:
        if tier.requested_online and tier.id not in forms:
            forms[tier.id] = _request_form(tier.id)
    body = render_template(
        "account/membership.html",
        tiers=tiers, kind_prices=kind_prices, held=held, today=day,
        pending=signup.open_request(db.session, user_id),
        awaiting=signup.awaiting_payment(db.session, user_id),
        answered=signup.last_decided(db.session, user_id),
        forms=forms, choose_form=ChooseForm(), subscription_url=_subscription_url,
        cancel_end=lambda m: last_day_when_cancelled(day, m.tier.notice_days),
        vat_percent=current_settings().policy.vat_percent,
    )
    return body, status


@bp.get("/account/membership")
@login_required
def index() -> tuple[str, int]:
    return _page()


@bp.post("/account/membership/choose/<id:tier_id>")
@login_required
def choose(tier_id: int) -> Response | tuple[str, int]:
    form = ChooseForm()
    if not form.validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return redirect(url_for("membership.index"))
    try:
        membership = signup.choose_tier(
            db.session, member=current_user._get_current_object(), tier_id=tier_id, now=now()
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
        return redirect(url_for("membership.index"))
    flash(_("Welcome! Your membership in %(tier)s is in force from today. You can book now.",
            tier=membership.tier.name), "success")
    return redirect(url_for("booking.availability"))


@bp.post("/account/membership/request/<id:tier_id>")
@login_required
def request_tier(tier_id: int) -> Response | tuple[str, int]:
    form = _request_form(tier_id)
    if form.validate_on_submit():
        try:
            request = signup.request_tier(
                db.session, member=current_user._get_current_object(), tier_id=tier_id,
                message=form.message.data or "", now=now(),
            )
        except DomainError as exc:
            if not refusal_beside_fields(form, exc):
                return redirect(url_for("membership.index"))
        else:
            flash(_("Thank you: the team has your request for %(tier)s and will answer by "
                    "e-mail.", tier=request.tier.name), "success")
            return redirect(url_for("membership.index"))
    return _page({tier_id: form}, 422)
