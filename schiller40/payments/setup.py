"""Choosing and reaching the payment gateway, once per app."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, url_for

from .gateway import PaymentGateway
from .simulated import SimulatedGateway
from .stripe_gateway import StripeGateway

KEY = "schiller40.payment_gateway"


def _simulated_checkout_url(checkout_id: str) -> str:
    """Absolute, on the same host as the return addresses: ``PUBLIC_URL`` when set, else the
    request's (a CLI run without either gets a path)."""
    path = f"/pay/simulated/{checkout_id}"
    public = str(current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if not public and has_request_context():
        return url_for("payments.simulated_checkout", checkout_id=checkout_id, _external=True)
    return f"{public}{path}"


def init_app(app: Flask) -> None:
    """Stripe when it is configured (``PAYMENT_PROVIDER``, resolved by settings), else the
    simulation. Tests may put any other ``PaymentGateway`` in ``app.extensions[KEY]``."""
    gateway: PaymentGateway
    if app.config["PAYMENT_PROVIDER"] == "stripe":
        gateway = StripeGateway(
            app.config["STRIPE_SECRET_KEY"],
            api_base=app.config.get("STRIPE_API_BASE") or "",
            timeout_seconds=float(app.config.get("STRIPE_TIMEOUT_SECONDS", 10)),
            max_retries=int(app.config.get("STRIPE_MAX_RETRIES", 2)),
        )
    else:
        gateway = SimulatedGateway(checkout_url=_simulated_checkout_url)
    app.extensions[KEY] = gateway


def gateway() -> PaymentGateway:
    return current_app.extensions[KEY]
