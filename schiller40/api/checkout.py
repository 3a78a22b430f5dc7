"""Opening a payment's checkout for an API client (new bookings, accepted offers, and on
request), in the member's language."""

from __future__ import annotations

from flask import current_app, g
from flask_babel import force_locale

from ..payments.checkout_urls import open_checkout as open_payment_checkout


def open_checkout(payment_id: int) -> None:
    """Open the checkout for a new payment; unreachable gateway: the holds are released and
    the caller gets 503 (raised by the service)."""
    # The checkout speaks the member's language, not the one of this request's headers: the
    # line items are translated while it is opened, and amounts are formatted for ``locale``.
    locale = g.api_user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        open_payment_checkout(payment_id, locale)
