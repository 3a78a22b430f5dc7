"""Opening the gateway's checkout for a payment: the page where the member pays.

The expiry is fixed (and stored) before the gateway is called, so a retry sends the very
same request with the same idempotency key; the gateway is called with no transaction open;
if it cannot be reached the member's holds are released at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_datetime
from babel.numbers import format_currency
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ..booking.models import Booking, BookingStatus
from ..booking.settings import BookingSettings
from ..core import audit
from ..core.locking import end_read, write
from ..errors import NotFound
from .apply import release
from .errors import not_payable, unavailable
from .gateway import Checkout, CheckoutRequest, GatewayError, LineItem, PaymentGateway
from .locks import lock_payment
from .models import Payment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReturnUrls:
    success: str
    cancel: str


def _line_item(booking: Booking, locale: str, vat_percent: int, currency: str) -> LineItem:
    resource = booking.resource
    tz = resource.location.tz
    when = (
        f"{format_datetime(booking.starts_at, 'EEE dd.MM.yyyy HH:mm', tzinfo=tz, locale=locale)}"
        f"–{format_datetime(booking.ends_at, 'HH:mm', tzinfo=tz, locale=locale)}"
    )
    vat = format_currency(booking.price_tax_cents / 100, currency, locale=locale)
    # In the member's language, not the request's: the API answers a token, which carries
    # no Accept-Language, and Stripe shows this text on its page and on the receipt.
    with force_locale(locale):
        description = str(
            _l("Booking %(id)s · includes %(percent)s %% VAT (%(vat)s)", id=booking.id,
               percent=vat_percent, vat=vat)
        )
    return LineItem(
        name=f"{resource.name}, {when}",
        description=description,
        amount_cents=booking.price_gross_cents,
    )


def start_checkout(
    session: Session,
    gateway: PaymentGateway,
    *,
    payment_id: int,
    now: datetime,
    urls: ReturnUrls,
    locale: str = "de",
    settings: BookingSettings,
) -> Payment:
    """Open the gateway's checkout for a payment (or return the one already open).

    If the gateway cannot be reached the member's holds are released at once: a slot must
    not stay blocked for a payment nobody can make.
    """
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound()
    if not payment.awaits_payment(now):
        end_read(session)
        raise not_payable()
    if payment.checkout_id and payment.checkout_url:
        end_read(session)
        return payment
    if payment.checkout_expires_at is None:
        payment = _plan_expiry(session, payment_id, gateway, now=now)
        held = [b for b in payment.bookings if b.status is BookingStatus.HELD]
    else:
        held = payment.held_bookings(now)
    request = _checkout_request(payment, held, urls=urls, locale=locale, settings=settings)
    end_read(session)  # no transaction (and no lock) while we wait for the gateway
    try:
        checkout = gateway.create_checkout(request, now=now)
    except GatewayError as exc:
        log.warning("checkout for payment %s could not be opened: %s", payment_id, exc)
        _give_up(session, payment_id, now=now, settings=settings, reason="gateway_unavailable")
        raise unavailable() from exc
    return _opened(session, gateway, payment_id, checkout, now=now)


def _checkout_request(
    payment: Payment, held: list[Booking], *, urls: ReturnUrls, locale: str,
    settings: BookingSettings,
) -> CheckoutRequest:
    assert payment.checkout_expires_at is not None
    return CheckoutRequest(
        payment_id=payment.id,
        reference=str(held[0].id),
        booking_ids=tuple(b.id for b in held),
        customer_email=payment.user.email if payment.user else None,
        items=tuple(
            _line_item(b, locale, settings.policy.vat_percent, payment.currency) for b in held
        ),
        currency=payment.currency,
        manual_capture=payment.captures_on_approval,
        expires_at=payment.checkout_expires_at,
        success_url=urls.success,
        cancel_url=urls.cancel,
        idempotency_key=payment.idempotency_key,
        locale=locale if locale in ("de", "en") else "auto",
    )


def _opened(
    session: Session, gateway: PaymentGateway, payment_id: int, checkout: Checkout, *,
    now: datetime,
) -> Payment:
    """Record the checkout the gateway opened; the holds last exactly as long."""
    with write(session):
        payment = lock_payment(session, payment_id)
        payment.checkout_opened(checkout.id, checkout.url, checkout.expires_at, now)
        audit.record(
            session, action="payment.checkout_opened", now=now, actor_id=None,
            object_type="payment", object_id=payment.id,
            details={"provider": gateway.name, "checkout": checkout.id,
                     "amount_cents": payment.amount_cents},
        )
    return payment


def _plan_expiry(
    session: Session, payment_id: int, gateway: PaymentGateway, *, now: datetime
) -> Payment:
    """Fix when the checkout will expire, once, and hold the slots exactly that long.

    Stored before the gateway is called, so a retry (a double click, a crash, a timeout)
    sends the very same parameters with the same idempotency key; a time worked out afresh
    each time would differ, and Stripe refuses a reused key with other parameters.
    """
    with write(session):
        payment = lock_payment(session, payment_id)
        payment.plan_checkout_expiry(gateway.min_checkout_lifetime, now)
    payment = session.get(Payment, payment_id)
    assert payment is not None
    if payment.checkout_expires_at is None or not any(
        b.status is BookingStatus.HELD for b in payment.bookings
    ):
        end_read(session)
        raise not_payable()
    return payment


def _give_up(
    session: Session, payment_id: int, *, now: datetime, settings: BookingSettings, reason: str
) -> None:
    with write(session):
        payment = lock_payment(session, payment_id)
        if payment.is_pending:
            payment.fail(reason, now)
            release(session, payment, now=now, settings=settings, why=reason)
