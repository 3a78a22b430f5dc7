"""Paying monthly for a tier: sign up (start today or on the 1st of next month, card or SEPA
direct debit), come back from the checkout, see the subscription, replace the payment
method; and, only with the simulated gateway, the test page that makes the next charge fail.

Each view parses its input, calls one use case of ``billing.service`` and renders.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from ..billing import rules, service
from ..billing.models import Subscription, SubscriptionStatus
from ..billing.settings import current_billing
from ..core.clock import now
from ..core.forms import apply_field_errors
from ..core.money import money
from ..core.urls import public_base
from ..errors import DomainError
from ..extensions import db
from ..payments.gateway import GatewayError, GatewayUnsupported
from ..payments.setup import gateway
from ..payments.simulated import SimulatedGateway

bp = Blueprint("subscriptions", __name__)

METHODS = [SelectChoice("card", _l("Card")),
           SelectChoice("sepa_debit", _l("SEPA direct debit"))]


class StartForm(FlaskForm):
    starts_on = RadioField(_l("Start"), validators=[InputRequired(_l("Please choose a start."))])
    payment_method = RadioField(
        _l("Payment method"), choices=METHODS,
        validators=[InputRequired(_l("Please choose how you want to pay."))],
    )


class MethodForm(FlaskForm):
    payment_method = RadioField(
        _l("New payment method"), choices=METHODS,
        validators=[InputRequired(_l("Please choose how you want to pay."))],
    )


def _urls(subscription_id: int) -> service.CheckoutUrls:
    back = public_base() + url_for("subscriptions.checkout_return",
                                   subscription_id=subscription_id)
    return service.CheckoutUrls(success=back + "?session_id={CHECKOUT_SESSION_ID}",
                                cancel=back + "?cancelled=1")


def _member():
    return current_user._get_current_object()


@bp.route("/account/membership/monthly/<slug>", methods=["GET", "POST"])
@login_required
def start(slug: str) -> str | tuple[str, int] | Response:
    """Choose the start and the payment method; shows the first (pro-rated) and the monthly
    amount; on to the gateway's checkout."""
    tier = service.monthly_tier(db.session, slug, current_user.id)
    instant = now()
    today = service.local_today(instant)
    settings = current_billing()
    choices = rules.start_choices(today)
    charges = {
        day: rules.first_charge(day, today=today, unit_amount_cents=tier.monthly_price_cents,
                                quantity=1, vat_percent=settings.vat_percent)
        for day in choices
    }
    form = StartForm()
    form.starts_on.choices = [
        SelectChoice(choices[0].isoformat(), _(
            "Today, %(date)s: %(amount)s for the rest of this month",
            date=format_date(choices[0], "long"),
            amount=money(charges[choices[0]].amount_cents),
        )),
        SelectChoice(choices[1].isoformat(), _(
            "On %(date)s: the full monthly amount", date=format_date(choices[1], "long"),
        )),
    ]
    # Staff confirmed a request from one of these days: that day is chosen already.
    confirmed = service.confirmed_start(db.session, current_user.id, tier.id)
    if confirmed in choices and not form.is_submitted():
        form.starts_on.data = confirmed.isoformat()
    current = service.open_subscription(db.session, current_user.id)
    if current is not None and current.status is not SubscriptionStatus.INCOMPLETE:
        flash(_("You already pay monthly for %(tier)s.", tier=current.tier.name), "info")
        return redirect(url_for("subscriptions.overview"))
    if form.validate_on_submit():
        try:
            sub = service.start_subscription(
                db.session, gateway(), member=_member(), tier_id=tier.id,
                starts_on=date.fromisoformat(form.starts_on.data),
                payment_method=form.payment_method.data, now=instant, settings=settings,
                urls=_urls, locale=str(get_locale()),
            )
        except DomainError as exc:
            apply_field_errors(form, exc)
        except GatewayUnsupported:
            form.form_errors.append(_("Paying monthly online is not available yet. Please "
                                      "ask the Schiller40 team."))
        except GatewayError:
            form.form_errors.append(_("The payment service cannot be reached just now. "
                                      "Please try again in a few minutes."))
        else:
            if sub.checkout_url:
                return redirect(sub.checkout_url, code=303)
            return redirect(url_for("subscriptions.overview"))
    body = render_template(
        "account/subscription_start.html", tier=tier, form=form, charges=charges,
        choices=choices, confirmed=confirmed,
    )
    return (body, 422) if form.errors or form.form_errors else body


@bp.get("/account/membership/monthly/<id:subscription_id>/return")
@login_required
def checkout_return(subscription_id: int) -> Response:
    """Back from the checkout: we ask the gateway ourselves rather than trust the URL."""
    sub = db.session.get(Subscription, subscription_id)
    if sub is None or sub.user_id != current_user.id:
        abort(404)
    if request.args.get("cancelled"):
        flash(_("You have not signed up. Nothing was charged."), "info")
        return redirect(url_for("subscriptions.start", slug=sub.tier.slug))
    try:
        sub = service.refresh_checkout(db.session, gateway(), subscription_id=subscription_id,
                                       now=now(), settings=current_billing())
    except GatewayError:
        flash(_("We could not check your payment just now. Your account page will show it "
                "as soon as the payment service confirms it."), "info")
        return redirect(url_for("subscriptions.overview"))
    if sub.status is SubscriptionStatus.ACTIVE:
        flash(_("Welcome to %(tier)s! Your membership is active.", tier=sub.tier.name),
              "success")
    elif sub.status is SubscriptionStatus.INCOMPLETE:
        flash(_("Your payment is being processed. We will activate your membership as soon "
                "as it arrives."), "info")
    return redirect(url_for("subscriptions.overview"))


@bp.get("/account/membership/subscription")
@login_required
def overview() -> str:
    """The subscription: tier, status, next charge, payment method, mandate, charges."""
    sub = service.latest_subscription(db.session, current_user.id)
    return render_template(
        "account/subscription.html", sub=sub,
        next=service.next_charge(sub) if sub is not None else None,
        policy=current_billing().policy, testing=_simulated(),
        creditor_id=current_app.config.get("SEPA_CREDITOR_ID") or None,
    )


@bp.route("/account/membership/payment-method", methods=["GET", "POST"])
@login_required
def payment_method() -> str | tuple[str, int] | Response:
    """Replace the payment method (the link in the "payment failed" mail): on to the
    gateway's setup checkout; back, the unpaid charges are collected at once."""
    sub = service.open_subscription(db.session, current_user.id)
    if sub is None or not sub.can_update_payment_method():
        abort(404)
    form = MethodForm()
    if form.validate_on_submit():
        back = public_base() + url_for("subscriptions.method_return")
        try:
            url = service.open_method_update(
                db.session, gateway(), member=_member(),
                payment_method=form.payment_method.data, now=now(),
                urls=service.CheckoutUrls(success=back + "?session_id={CHECKOUT_SESSION_ID}",
                                          cancel=url_for("subscriptions.overview")),
                locale=str(get_locale()),
            )
        except DomainError as exc:
            apply_field_errors(form, exc)
        except GatewayError:
            form.form_errors.append(_("The payment service cannot be reached just now. "
                                      "Please try again in a few minutes."))
        else:
            return redirect(url, code=303)
    body = render_template("account/subscription_method.html", sub=sub, form=form)
    return (body, 422) if form.errors or form.form_errors else body


@bp.get("/account/membership/payment-method/return")
@login_required
def method_return() -> Response:
    checkout_id = request.args.get("session_id", "")
    if not checkout_id or len(checkout_id) > 255:
        abort(404)
    try:
        sub = service.finish_method_update(
            db.session, gateway(), member=_member(), checkout_id=checkout_id, now=now(),
            settings=current_billing(),
        )
    except GatewayError:
        flash(_("We could not check your payment just now. Your account page will show it "
                "as soon as the payment service confirms it."), "info")
        return redirect(url_for("subscriptions.overview"))
    if sub.status is SubscriptionStatus.ACTIVE:
        flash(_("Your payment method is saved and your monthly fee is paid."), "success")
    else:
        flash(_("Your payment method is saved, but the open amount could not be collected "
                "yet."), "info")
    return redirect(url_for("subscriptions.overview"))


# --- the test page: only with the simulated gateway, for staff or in development ---------------


def _simulated() -> bool:
    return isinstance(gateway(), SimulatedGateway)


def _may_test() -> bool:
    if not _simulated():
        return False
    staff = current_user.is_authenticated and current_user.is_staff
    return staff or current_app.config["ENV_NAME"] == "development"


@bp.route("/dev/billing/<id:subscription_id>/fail-next", methods=["POST"])
@login_required
def fail_next(subscription_id: int) -> Response:
    """Make every charge of this subscription fail until its payment method is replaced."""
    if not _may_test():
        abort(404)
    sub = db.session.get(Subscription, subscription_id)
    if sub is None or (sub.user_id != current_user.id and not current_user.is_staff):
        abort(404)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.make_next_renewal_fail(db.session, gateway(), actor=_member(),
                                       subscription_id=subscription_id, now=now())
    except DomainError:
        abort(404)
    flash(_("Test: the next charge will fail."), "info")
    return redirect(url_for("subscriptions.overview"))
