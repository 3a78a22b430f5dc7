"""How a payment is paid, in words: the choices of the staff's forms (booking for a member,
a manual charge) and the short labels of the payment tables. Shared by the calendar, the
member page and the front desk's pages, which import no view module of each other."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

from ..payments.models import Payment, PaymentMethod, PaymentStatus

# Short: a table cell.
METHOD_LABELS: dict[PaymentMethod, Any] = {
    PaymentMethod.ONLINE: _l("online"),
    PaymentMethod.DESK_CASH: _l("cash at the front desk"),
    PaymentMethod.DESK_CARD: _l("card at the front desk"),
    PaymentMethod.INVOICE: _l("on invoice (bank transfer)"),
}

BOOKING_CHOICES = [
    SelectChoice(PaymentMethod.ONLINE.value,
                 _l("Online payment: the member gets an e-mail with the link to pay")),
    SelectChoice(PaymentMethod.DESK_CASH.value, _l("Paid at the desk in cash")),
    SelectChoice(PaymentMethod.DESK_CARD.value, _l("Paid at the desk by card terminal")),
    SelectChoice(PaymentMethod.INVOICE.value, _l("On invoice: paid later by bank transfer")),
]

CHARGE_CHOICES = [
    SelectChoice(PaymentMethod.DESK_CASH.value, _l("Paid now at the desk in cash")),
    SelectChoice(PaymentMethod.DESK_CARD.value, _l("Paid now at the desk by card terminal")),
    SelectChoice(PaymentMethod.INVOICE.value,
                 _l("Billed later: open until the bank transfer is recorded")),
]


def payment_state(payment: Payment) -> str:
    """Where a payment stands, in words (never by colour alone)."""
    if payment.owes_transfer:
        return str(_l("open"))
    if payment.status is PaymentStatus.PAID:
        return str(_l("paid"))
    return str(STATUS_LABELS.get(payment.status, payment.status.value))


STATUS_LABELS: dict[PaymentStatus, Any] = {
    PaymentStatus.PENDING: _l("waiting for payment"),
    PaymentStatus.PROCESSING: _l("on its way"),
    PaymentStatus.FAILED: _l("failed"),
    PaymentStatus.EXPIRED: _l("expired"),
    PaymentStatus.AUTHORIZED: _l("authorised"),
    PaymentStatus.CANCELLED: _l("cancelled"),
    PaymentStatus.PAID: _l("paid"),
}
