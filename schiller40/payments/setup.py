"""Choosing and reaching the payment gateway, once per app."""

from __future__ import annotations

from flask import Flask, current_app

from ..core.urls import public_base
from .gateway import PaymentGateway
from .simulated import SimulatedGateway
from .stripe_gateway import StripeGateway

KEY = "schiller40.payment_gateway"


def _simulated_checkout_url(checkout_id: str) -> str:
    """Absolute, on the same host as the return addresses (a CLI run without ``PUBLIC_URL``
    gets a path)."""
    return f"{public_base()}/pay/simulated/{checkout_id}"


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
