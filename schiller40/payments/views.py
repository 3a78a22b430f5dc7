"""Pages around paying: coming back from the checkout, and the simulated checkout page of
the embedded default. Paying, cancelling, staff approval and refunds start from the booking's
page (``members/booking_pages.py``); ``checkout_urls.py`` opens the checkout."""

from __future__ import annotations

import re
import uuid

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from stdnum import iban
from wtforms import BooleanField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from ..booking.settings import current_settings
from ..core.clock import now
from ..extensions import db
from .gateway import GatewayError, IntentStatus
from .models import Payment, PaymentStatus, SimulatedCheckout
from .pull import handle_event, refresh
from .setup import gateway
from .simulated import SimulatedGateway

bp = Blueprint("payments", __name__)

SIMULATED_ID = re.compile(r"cs_sim_[A-Za-z0-9_-]{8,40}")


@bp.get("/payments/<id:payment_id>/return")
@login_required
def payment_return(payment_id: int) -> Response:
    """Back from the checkout. We ask the gateway ourselves rather than trust the URL."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or (payment.user_id != current_user.id and not current_user.is_staff):
        abort(404)
    first = payment.bookings[0].id if payment.bookings else None
    try:
        payment = refresh(
            db.session, gateway(), payment_id=payment_id, now=now(), settings=current_settings()
        )
    except GatewayError:
        flash(_("We could not check your payment just now. Your booking page will show it "
                "as soon as the payment service confirms it."), "info")
        payment = db.session.get(Payment, payment_id)
        assert payment is not None
    status = payment.status
    if status is PaymentStatus.PAID:
        flash(_("Thank you: your payment has arrived and your booking is confirmed."),
              "success")
    elif status is PaymentStatus.AUTHORIZED:
        flash(_("Your card is authorised, not charged. The studio team will confirm your "
                "booking; only then is the amount charged."), "success")
    elif status is PaymentStatus.PROCESSING:
        flash(_("Your payment is being processed. Your reservation stays held, and we will "
                "confirm the booking when the money arrives."), "info")
    elif status is PaymentStatus.PENDING:
        flash(_("The payment was not completed. Your reservation is held for a short while: "
                "you can pay now or cancel it."), "info")
    else:
        flash(_("The payment did not go through, so the reservation was released."), "error")
    if first is None:
        return redirect(url_for("main.index"))
    return redirect(url_for("bookings.booking_detail", booking_id=first))


# --- the simulated checkout ----------------------------------------------------------------


def _simulation() -> SimulatedGateway:
    found = gateway()
    if not isinstance(found, SimulatedGateway):
        abort(404)
    return found


def _success_url(row: SimulatedCheckout, checkout_id: str) -> str:
    return row.success_url.replace("{CHECKOUT_SESSION_ID}", checkout_id)


def _back_from_checkout(row: SimulatedCheckout, checkout_id: str) -> Response:
    return redirect(_success_url(row, checkout_id), code=303)


def _onward_url(row: SimulatedCheckout, checkout_id: str) -> str:
    """The way on from a checkout that is over: our return page (which asks the gateway and
    goes on to the booking), by the success address once paid, else by the cancel one."""
    return _success_url(row, checkout_id) if row.status == "complete" else row.cancel_url


@bp.route("/pay/simulated/<checkout_id>", methods=["GET", "POST"])
def simulated_checkout(checkout_id: str) -> Response:
    """Stands in for Stripe's hosted page: no log-in (the id is the secret, as on Stripe)."""
    simulation = _simulation()
    if not SIMULATED_ID.fullmatch(checkout_id):
        abort(404)
    instant = now()
    row = simulation.view(checkout_id, now=instant)
    if row is None:
        abort(404)
    if row.details.get("mode") in ("subscription", "setup"):
        return _simulated_subscription_checkout(simulation, row, checkout_id, instant)
    form = FlaskForm()
    if request.method == "POST" and form.validate_on_submit():
        action = request.form.get("action")
        if action not in ("pay", "cancel"):
            abort(400)
        if action == "cancel" and row.status == "open":
            return redirect(row.cancel_url, code=303)
        if action == "pay" and row.status == "open":
            try:
                simulation.complete(checkout_id, now=instant)
            except GatewayError:
                # Paid by another click a moment ago, or run out meanwhile: see below.
                row = simulation.view(checkout_id, now=instant)
                assert row is not None
            else:
                # The same path a verified Stripe webhook takes.
                handle_event(
                    db.session, simulation, event_id=f"evt_sim_{uuid.uuid4().hex}",
                    event_type="checkout.session.completed", object_id=checkout_id,
                    now=instant, settings=current_settings(),
                )
                return _back_from_checkout(row, checkout_id)
        if action == "pay" and row.status == "complete":
            # A second click on Pay (a double click, a resent form) ends where the first did.
            return _back_from_checkout(row, checkout_id)
    # "Back" after paying shows this page again: never a stale copy with a Pay button (no
    # cache, no back/forward cache), and once it is paid, expired or given back a way on to
    # the booking (issue 17).
    response = Response(render_template(
        "payments/simulated_checkout.html", row=row, form=form,
        onward=_onward_url(row, checkout_id), IntentStatus=IntentStatus,
    ))
    response.headers["Cache-Control"] = "no-store"
    return response


class SimulatedMethodForm(FlaskForm):
    """The simulated sign-up / payment-method checkout: card or SEPA direct debit (an IBAN
    and the mandate)."""

    payment_method = RadioField(
        _l("Payment method"),
        choices=[SelectChoice("card", _l("Card (test card Visa •••• 4242)")),
                 SelectChoice("sepa_debit", _l("SEPA direct debit"))],
        validators=[InputRequired(_l("Please choose how you want to pay."))],
    )
    iban = StringField(_l("IBAN"), description=_l("For example DE89 3704 0044 0532 0130 00."))
    mandate = BooleanField(_l(
        "I authorise Schiller40 to collect payments from my account by direct debit and "
        "instruct my bank to pay them. I can ask my bank for a refund within eight weeks "
        "of a debit, on the terms agreed with my bank."
    ))

    def validate(self, extra_validators=None) -> bool:  # type: ignore[override]
        ok = super().validate(extra_validators)
        if self.payment_method.data == "sepa_debit":
            if not iban.is_valid(self.iban.data or ""):
                self.iban.errors = [*self.iban.errors, _("Please enter a valid IBAN.")]
                ok = False
            if not self.mandate.data:
                self.mandate.errors = [*self.mandate.errors,
                                       _("Please agree to the direct debit mandate.")]
                ok = False
        return ok


def _simulated_subscription_checkout(
    simulation: SimulatedGateway, row: SimulatedCheckout, checkout_id: str, instant
) -> Response:
    """The stand-in for Stripe's page in subscription or setup mode."""
    form = SimulatedMethodForm(data={"payment_method": row.details.get("payment_method")})
    status = 200
    if request.method == "POST":
        if request.form.get("action") == "cancel" and row.status == "open":
            return redirect(row.cancel_url, code=303)
        if row.status == "complete":
            return _back_from_checkout(row, checkout_id)
        if row.status == "open":
            if form.validate_on_submit():
                try:
                    simulation.complete_subscription_checkout(
                        checkout_id, payment_method=form.payment_method.data,
                        iban=iban.compact(form.iban.data or ""), now=instant,
                    )
                except GatewayError:
                    row = simulation.view(checkout_id, now=instant) or row
                return _back_from_checkout(row, checkout_id)
            status = 422
    response = Response(render_template(
        "payments/simulated_subscription_checkout.html", row=row, form=form,
        onward=_onward_url(row, checkout_id),
    ), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response
