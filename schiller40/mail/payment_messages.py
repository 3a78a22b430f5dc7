"""Messages about money and staff decisions: payment received, refund issued, a studio
booking approved or turned down.

Queued by the payment use cases (``payments.apply``, ``push``, ``approval``) on the
transition that causes them (a payment becoming paid, a refund succeeding at the gateway,
staff approving or rejecting), each with a key, so a replayed webhook or a second
reconciliation never queues one twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy.orm import Session

from ..booking.models import Booking, BookingStatus
from ..booking.rules import split_vat
from ..booking.settings import current_settings
from ..core.money import money
from ..payments.models import (
    DESK_METHODS,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
)
from .booking_messages import bookings_of, confirmed_of
from .catalog import message
from .compose import Mail, can_receive, render, staff_recipient
from .ics import booking_invitation

# Why money came back, as the member reads it.
REFUND_REASONS = {
    RefundReason.CANCELLATION: _l("You cancelled the booking; this is what the cancellation "
                                  "terms give back."),
    RefundReason.LATE_PAYMENT: _l("Your payment arrived after the reservation had already "
                                  "been released, so the full amount goes back to you."),
    RefundReason.STAFF: _l("The Schiller40 team refunded this amount to you."),
    RefundReason.EXTERNAL: _l("The Schiller40 team refunded this amount to you."),
}


@message("mail.payment_received")
def payment_received(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """A receipt: what was received (gross, with the VAT in it) and what it paid for."""
    payment = session.get(Payment, payload["payment_id"])
    if payment is None or not can_receive(payment.user) or payment.received_cents <= 0:
        return None
    member = payment.user
    assert member is not None
    amount = int(payload.get("amount_cents") or payment.received_cents)
    ids = payload.get("booking_ids") or [b.id for b in payment.bookings]
    lines = bookings_of(session, ids)
    # The configured rate, the one the prices were split by (checked at start-up).
    vat_percent = current_settings().policy.vat_percent
    if sum(b.price_gross_cents for b in lines) == amount:
        net = sum(b.price_net_cents for b in lines)
        tax = sum(b.price_tax_cents for b in lines)
    else:
        net, tax = split_vat(amount, vat_percent)
    return render(
        "payment_received",
        to=member,
        payment=payment,
        lines=lines,
        amount=amount,
        net=net,
        tax=tax,
        vat_percent=vat_percent,
        now=now,
        subject=lambda: _("Payment received: %(amount)s", amount=money(amount)),
    )


# How the money was taken at the desk, as the receipt says it.
DESK_METHOD_LABELS = {
    PaymentMethod.DESK_CASH: _l("paid in cash at the front desk"),
    PaymentMethod.DESK_CARD: _l("paid by card at the front desk"),
}


@message("mail.desk_receipt")
def desk_receipt(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """A receipt for money staff took at the front desk (cash or card terminal): for bookings
    they made for the member, or a manual charge. Each line with its VAT rate, net and tax
    as stored, the method and who took it."""
    payment = session.get(Payment, payload["payment_id"])
    if (
        payment is None or payment.method not in DESK_METHODS
        or payment.status is not PaymentStatus.PAID or not can_receive(payment.user)
    ):
        return None
    member = payment.user
    assert member is not None
    vat_percent = current_settings().policy.vat_percent
    lines = [
        {"text": f"{b.resource.name}, {b.resource.location.name}", "booking": b,
         "gross": b.price_gross_cents, "net": b.price_net_cents, "tax": b.price_tax_cents,
         "vat_percent": vat_percent}
        for b in payment.bookings
    ] + [
        {"text": c.description, "booking": None, "gross": c.gross_cents, "net": c.net_cents,
         "tax": c.tax_cents, "vat_percent": c.vat_percent}
        for c in payment.charges
    ]
    return render(
        "desk_receipt",
        to=member,
        payment=payment,
        lines=lines,
        method=DESK_METHOD_LABELS[payment.method],
        now=now,
        subject=lambda: _("Receipt: %(amount)s paid at the front desk",
                          amount=money(payment.amount_cents)),
    )


@message("mail.refund_issued")
def refund_issued(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Money is on its way back. Not sent if the refund failed at the gateway meanwhile (the
    member would wait for money that is not coming; staff see the failure)."""
    refund = session.get(Refund, payload["refund_id"])
    if refund is None or refund.status is not RefundStatus.SUCCEEDED:
        return None
    payment = refund.payment
    if not can_receive(payment.user):
        return None
    member = payment.user
    assert member is not None
    if refund.booking_id is not None:
        bookings = bookings_of(session, [refund.booking_id])
    else:
        bookings = list(payment.bookings)
    return render(
        "refund_issued",
        to=member,
        refund=refund,
        payment=payment,
        bookings=bookings,
        reason=REFUND_REASONS[refund.reason],  # lazy: translated in the reader's language
        subject=lambda: _("Refund of %(amount)s", amount=money(refund.amount_cents)),
    )


@message("mail.approval_needed")
def approval_needed(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """To the staff address (``STAFF_EMAIL``): a member's card is authorised for a studio
    booking that waits for approval; the link opens the approvals page. Nothing when no
    staff address is configured, or when the bookings were decided (or ran out) meanwhile."""
    staff = staff_recipient()
    if staff is None:
        return None
    bookings = [
        b for b in bookings_of(session, payload["booking_ids"])
        if b.effective_status(now) is BookingStatus.HELD
        and b.payment is not None and b.payment.status is PaymentStatus.AUTHORIZED
    ]
    if not bookings:
        return None
    deadline = min(b.hold_expires_at for b in bookings if b.hold_expires_at is not None)
    return render(
        "approval_needed",
        to=staff,
        bookings=bookings,
        member=bookings[0].user,
        deadline=deadline,
        approvals_url=url_for("staff.approvals", _external=True),
        subject=lambda: ngettext(
            "Approval needed: %(name)s", "Approval needed: %(num)d bookings", len(bookings),
            name=bookings[0].resource.name,
        ),
    )


@message("mail.booking_approved")
def booking_approved(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Staff approved a studio booking and its authorised payment was captured: this is its
    confirmation (instead of "booking confirmed"), with the calendar invitation."""
    bookings = confirmed_of(session, payload["booking_ids"], now)
    if not bookings or not can_receive(bookings[0].user):
        return None
    member = bookings[0].user
    assert member is not None
    return render(
        "booking_approved",
        to=member,
        bookings=bookings,
        charged=sum(b.price_gross_cents for b in bookings),
        subject=lambda: ngettext(
            "Booking approved: %(name)s", "%(num)d bookings approved", len(bookings),
            name=bookings[0].resource.name,
        ),
        attachments=lambda: [booking_invitation(b, now=now) for b in bookings],
    )


@message("mail.booking_rejected")
def booking_rejected(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Staff turned a studio booking down: the reason they gave, that nothing is charged,
    and the calendar cancellation."""
    booking = session.get(Booking, payload["booking_id"])
    if booking is None or booking.status is not BookingStatus.CANCELLED:
        return None
    if not can_receive(booking.user):
        return None
    member = booking.user
    assert member is not None
    return render(
        "booking_rejected",
        to=member,
        booking=booking,
        reason=payload.get("reason"),
        subject=lambda: _("Booking not approved: %(name)s", name=booking.resource.name),
        attachments=lambda: [booking_invitation(booking, now=now, cancel=True)],
    )

