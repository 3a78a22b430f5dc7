"""Sending a member to pay: the addresses a checkout comes back to, and opening the checkout
with them. Pages and the API open every checkout through ``open_checkout``."""

from __future__ import annotations

from flask import url_for

from ..booking.settings import current_settings
from ..core.clock import now
from ..core.urls import public_base
from ..extensions import db
from .checkout import ReturnUrls, start_checkout
from .models import Payment
from .setup import gateway


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
        locale=locale, settings=current_settings(),
    )
