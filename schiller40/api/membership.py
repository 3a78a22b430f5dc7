"""``/api/v1/membership``: your own membership and monthly fee, and changing or ending it.

``GET`` answers what the account page shows (tier, status, period, next charge, payment
method, planned change, cancellation date, what you may do and the earliest end if you
cancelled now). ``POST`` takes one action (see ``schemas.MembershipAction``); with
``"preview": true`` it answers the amounts and dates and changes nothing. Every action is
safe to send twice: the second answers with the same change or end date.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, g, jsonify
from flask_babel import gettext as _

from ..billing import changes
from ..billing.change_models import SubscriptionChange
from ..billing.settings import current_billing
from ..core.clock import now
from ..extensions import db
from ..membership.models import Membership
from ..payments.setup import gateway
from . import schemas
from .auth import token_required
from .blueprint import bp
from .parsing import ApiError, json_body


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _membership(m: Membership | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"tier": m.tier.slug, "tier_name": m.tier.name, "status": m.status.value,
            "valid_from": _day(m.valid_from), "valid_until": _day(m.valid_until),
            "billed": m.is_billed}


def change_json(c: SubscriptionChange | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"id": c.id, "kind": c.kind.value, "status": c.status.value,
            "from_tier": c.from_tier.slug, "to_tier": c.to_tier.slug,
            "effective_on": _day(c.effective_on), "proration_cents": c.proration_cents,
            "monthly_cents": c.to_amount_cents * c.subscription.quantity}


def state_json(st: changes.MembershipState) -> dict[str, Any]:
    sub = st.subscription
    subscription = None
    if sub is not None:
        subscription = {
            "tier": sub.tier.slug, "status": sub.status.value, "quantity": sub.quantity,
            "monthly_cents": sub.gross_monthly_cents, "currency": sub.currency,
            "starts_on": _day(sub.starts_on),
            "period_start": _day(sub.current_period_start),
            "period_end": _day(sub.current_period_end),
            "paid_through": _day(sub.paid_through),
            "next_charge_on": _day(st.next_charge[0]) if st.next_charge else None,
            "next_charge_cents": st.next_charge[1] if st.next_charge else None,
            "open_cents": st.open_cents,
            "payment_method": sub.payment_method.value if sub.payment_method else None,
            "payment_method_label": sub.payment_method_label,
            "mandate_reference": sub.mandate_reference,
            "cancel_at": _day(sub.cancel_at),
        }
    terms = st.cancel_terms
    return {
        "today": _day(st.today),
        "membership": _membership(st.membership),
        "upcoming": _membership(st.upcoming),
        "subscription": subscription,
        "planned_change": change_json(st.planned_change),
        "may": {"change": st.may_change, "cancel": st.may_cancel,
                "withdraw_cancellation": st.may_withdraw_cancellation, "end": st.may_end_now},
        "cancel_terms": None if terms is None else {
            "notice_days": terms.notice_days, "ends_on": _day(terms.ends_on),
            "last_charge_on": _day(terms.last_charge_on)},
        "tiers": [{"slug": t.slug, "name": t.name, "monthly_price_cents": t.monthly_price_cents}
                  for t in st.offers],
    }


def quote_json(q: changes.ChangeQuote) -> dict[str, Any]:
    charge = q.charge
    return {
        "tier": q.tier.slug, "kind": q.kind.value if q.kind else "switch",
        "effective_on": _day(q.effective_on), "last_day_old": _day(q.last_day_old),
        "monthly_cents": q.monthly_cents, "next_charge_on": _day(q.next_charge_on),
        "charge_now": None if charge is None else {
            "amount_cents": charge.amount_cents, "net_cents": charge.net_cents,
            "tax_cents": charge.tax_cents, "vat_percent": charge.vat_percent,
            "period_start": _day(charge.period_start), "period_end": _day(charge.period_end),
            "days_billed": charge.days_billed, "days_in_month": charge.days_in_month},
    }


def _answer(**extra: Any) -> Response:
    db.session.expire_all()
    st = changes.state(db.session, member=g.api_user, now=now())
    return jsonify({**state_json(st), **extra})


@bp.get("/membership")
@token_required
def get_membership() -> Response:
    return _answer()


@bp.post("/membership")
@token_required
def post_membership() -> Response:
    body = json_body(schemas.MembershipAction)
    member, instant, settings = g.api_user, now(), current_billing()
    if body.action == "change":
        if body.tier is None:
            raise ApiError(422, "invalid", _("Some fields are invalid."),
                           {"tier": [_("Please choose a tier on offer.")]})
        if body.preview:
            quote = changes.quote_change(db.session, member=member, tier_slug=body.tier,
                                         now=instant, settings=settings)
            return _answer(quote=quote_json(quote))
        done = changes.change_tier(db.session, gateway(), member=member, tier_slug=body.tier,
                                   now=instant, settings=settings)
        made = done if isinstance(done, SubscriptionChange) else None
        return _answer(change=change_json(made))
    if body.action == "cancel":
        if body.preview:
            cq = changes.quote_cancel(db.session, member=member, now=instant)
            return _answer(quote={"ends_on": _day(cq.ends_on),
                                  "notice_days": cq.terms.notice_days if cq.terms else 0})
        changes.cancel(db.session, gateway(), member=member, now=instant,
                       expected_end=body.ends_on)
    elif body.action == "withdraw_change":
        changes.withdraw_change(db.session, gateway(), member=member, now=instant)
    elif body.action == "withdraw_cancellation":
        changes.withdraw_cancellation(db.session, gateway(), member=member, now=instant)
    elif body.action == "end":
        if body.preview:
            cq = changes.quote_cancel(db.session, member=member, now=instant)
            return _answer(quote={"ends_on": _day(cq.ends_on), "notice_days": 0})
        changes.end_now(db.session, member=member, now=instant)
    return _answer()
