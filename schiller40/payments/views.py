"""Pages around paying: the booking page's payment part, paying, coming back from the
checkout, cancelling with the refund shown first, staff approval and refunds, and the
simulated checkout page of the embedded default."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..booking import checkin
from ..booking import queries as booking_queries
from ..booking.models import Booking, BookingStatus
from ..booking.settings import from_config
from ..core.clock import now
from ..core.forms import no_nul
from ..core.money import money
from ..core.urls import public_base
from ..extensions import db
from . import approval, cancellation, ledger
from .checkout import ReturnUrls, start_checkout
from .gateway import GatewayError, IntentStatus
from .models import Payment, PaymentStatus, RefundStatus, SimulatedCheckout
from .pull import handle_event, refresh
from .setup import gateway
from .simulated import SimulatedGateway

bp = Blueprint("payments", __name__)

SIMULATED_ID = re.compile(r"cs_sim_[A-Za-z0-9_-]{8,40}")


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (optional)"), validators=[Optional(), Length(max=500), no_nul]
    )
    refund = RadioField(
        _l("Refund"),
        choices=[
            SelectChoice("policy", _l("As the cancellation terms say")),
            SelectChoice("full", _l("Refund in full")),
            SelectChoice("none", _l("No refund")),
        ],
        default="policy",
    )


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason, shown to the member"), validators=[Length(max=500), no_nul])


class RefundForm(FlaskForm):
    amount = StringField(
        _l("Amount in euros"),
        validators=[DataRequired(_l("Please enter an amount."))],
        description=_l("For example 12,50"),
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    note = StringField(_l("Note (why)"), validators=[Length(max=500), no_nul])


def parse_euros(raw: str) -> int | None:
    """ "12,50", "12.50", "12" -> cents; None if it is not an amount."""
    text = raw.strip().replace("€", "").replace(" ", "").replace("\u00a0", "")
    if not re.fullmatch(r"\d{1,6}([.,]\d{1,2})?", text):
        return None
    try:
        return int(Decimal(text.replace(",", ".")) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern above rules it out
        return None


def _settings():
    return from_config(current_app.config)


def _locale() -> str:
    return str(get_locale() or "de")


def return_urls(payment_id: int) -> ReturnUrls:
    base = public_base()
    back = base + url_for("payments.payment_return", payment_id=payment_id)
    # {CHECKOUT_SESSION_ID} is filled in by Stripe; it must reach it unencoded.
    return ReturnUrls(
        success=back + "?session_id={CHECKOUT_SESSION_ID}", cancel=back + "?cancelled=1"
    )


def open_checkout(payment_id: int, locale: str) -> Payment:
    """Open (or reopen) a payment's checkout with this app's return addresses: the one way
    pages and the API send a member to pay."""
    return start_checkout(
        db.session, gateway(), payment_id=payment_id, now=now(), urls=return_urls(payment_id),
        locale=locale, settings=_settings(),
    )


def _own_booking(booking_id: int) -> Booking:
    return booking_queries.get_booking(db.session, viewer=current_user, booking_id=booking_id)


@bp.get("/bookings/<id:booking_id>")
@login_required
def booking_detail(booking_id: int) -> str:
    booking = _own_booking(booking_id)
    instant = now()
    status = booking.effective_status(instant)
    payment = booking.payment
    refunds = []
    if payment is not None:
        refunds = [
            r for r in payment.refunds
            if current_user.is_staff or r.booking_id in (booking.id, None)
        ]
    terms = None
    if booking.can_cancel(instant, by_staff=current_user.is_staff):
        terms = ledger.cancellation_terms(
            booking, now=instant, policy=_settings().refund_policy
        )
    return render_template(
        "booking/detail.html", booking=booking, status=status, payment=payment,
        refunds=refunds, terms=terms, now=instant,
        checkin=checkin.state(booking, now=instant, staff=current_user.is_staff,
                              grace=checkin.grace_from_config(current_app.config)),
        awaiting_approval=payment is not None and payment.awaits_approval(booking, instant),
        refund_form=RefundForm(), reject_form=RejectForm(),
        RefundStatus=RefundStatus, PaymentStatus=PaymentStatus,
    )


@bp.post("/bookings/<id:booking_id>/pay")
@login_required
def pay(booking_id: int) -> Response:
    booking = _own_booking(booking_id)
    if booking.payment is None or not booking.payment.awaits_payment(now(), booking):
        flash(_("This booking is not waiting for payment."), "info")
        return redirect(url_for("payments.booking_detail", booking_id=booking_id))
    payment = open_checkout(booking.payment.id, _locale())
    assert payment.checkout_url is not None
    return redirect(payment.checkout_url, code=303)


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
            db.session, gateway(), payment_id=payment_id, now=now(), settings=_settings()
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
    return redirect(url_for("payments.booking_detail", booking_id=first))


@bp.route("/bookings/<id:booking_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(booking_id: int) -> str | Response:
    booking = _own_booking(booking_id)
    instant = now()
    if not booking.can_cancel(instant, by_staff=current_user.is_staff):
        flash(_("This booking can no longer be cancelled."), "info")
        return redirect(url_for("payments.booking_detail", booking_id=booking_id))
    form = CancelForm()
    if not current_user.is_staff:
        del form.refund
    settings = _settings()
    if form.validate_on_submit():
        mode = form.refund.data if current_user.is_staff else "policy"
        done, refund = cancellation.cancel_booking(
            db.session, gateway(), actor=current_user, booking_id=booking_id, now=instant,
            reason=form.reason.data, refund=mode, settings=settings,
        )
        refund_cents = refund.amount_cents if refund and not refund.has_failed else 0
        if refund_cents:
            flash(_("Your booking is cancelled. %(amount)s will be refunded to your card "
                    "(this takes a few days).", amount=money(refund_cents)), "success")
        else:
            flash(_("Your booking is cancelled."), "success")
        return redirect(url_for("payments.booking_detail", booking_id=done.id))
    terms = ledger.cancellation_terms(booking, now=instant, policy=settings.refund_policy)
    return render_template(
        "booking/cancel.html", booking=booking, form=form, terms=terms,
        policy=settings.refund_policy.get(booking.resource.kind, ()),
    )


# --- staff ---------------------------------------------------------------------------------


def _staff_only() -> None:
    if not current_user.is_staff:
        abort(404)  # a member must not learn that staff pages exist


@bp.post("/bookings/<id:booking_id>/approve")
@login_required
def approve(booking_id: int) -> Response:
    _staff_only()
    if not FlaskForm().validate_on_submit():
        abort(400)
    # The approval is recorded either way; a capture the gateway did not confirm is left for
    # reconciliation, and the booking is then still held.
    booking = approval.approve(
        db.session, gateway(), actor=current_user, booking_id=booking_id, now=now(),
        settings=_settings(),
    )
    if booking.status is BookingStatus.CONFIRMED:
        flash(_("Approved: the booking is confirmed and the amount charged."), "success")
    else:
        flash(_("Approved. The payment service has not confirmed the charge yet; it will be "
                "retried automatically."), "info")
    return redirect(url_for("payments.booking_detail", booking_id=booking_id))


@bp.post("/bookings/<id:booking_id>/reject")
@login_required
def reject(booking_id: int) -> Response:
    _staff_only()
    form = RejectForm()
    if not form.validate_on_submit():
        flash(str(form.reason.errors[0]) if form.reason.errors
              else _("The reason is too long (500 characters at most)."), "error")
        return redirect(url_for("payments.booking_detail", booking_id=booking_id))
    approval.reject(
        db.session, gateway(), actor=current_user, booking_id=booking_id, now=now(),
        reason=form.reason.data, settings=_settings(),
    )
    flash(_("Rejected: the booking is cancelled and the card authorisation released."),
          "success")
    return redirect(url_for("payments.booking_detail", booking_id=booking_id))


@bp.post("/bookings/<id:booking_id>/refunds")
@login_required
def refund(booking_id: int) -> Response | str:
    _staff_only()
    form = RefundForm()
    cents = parse_euros(form.amount.data or "") if form.validate_on_submit() else None
    if cents is None or cents <= 0:
        flash(_("Please enter the amount in euros, for example 12,50."), "error")
        return redirect(url_for("payments.booking_detail", booking_id=booking_id) + "#refund")
    made = cancellation.refund_by_hand(
        db.session, gateway(), actor=current_user, booking_id=booking_id, amount_cents=cents,
        note=form.note.data or "", now=now(), settings=_settings(),
    )
    if made.status is RefundStatus.SUCCEEDED:
        flash(_("%(amount)s refunded.", amount=money(made.amount_cents)), "success")
    elif made.status is RefundStatus.FAILED:
        # Refused for good: it is not retried, so do not promise that it will be.
        flash(_("The payment service refused the refund of %(amount)s: %(reason)s",
                amount=money(made.amount_cents), reason=made.failure_message or "—"), "error")
    else:
        flash(_("The refund of %(amount)s is recorded and will be sent to the payment service "
                "again shortly.", amount=money(made.amount_cents)), "info")
    return redirect(url_for("payments.booking_detail", booking_id=booking_id) + "#payments")


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
                    now=instant, settings=_settings(),
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
