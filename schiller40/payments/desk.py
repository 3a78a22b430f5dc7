"""The front desk's money: manual charges, bank transfers received, and the open amounts.

Bookings that staff make for a member are paid at the desk or put on invoice by the booking
engine itself (``booking.create`` through ``ledger.settle_at_desk``); everything else the
desk does with money is here. None of it reaches the payment gateway: these payments carry
``provider = "desk"`` and a ``method`` other than ``online``, so reconciliation, webhooks and
the checkout never see them.

An open amount is a payment ``on invoice`` still pending. Recording its bank transfer pays it
in full (partial transfers are not recorded: staff wait until the whole amount is in, or the
coming invoice issue adds them). The payment row, with its bookings or manual charges, is
what a later invoice will name (docs/payments.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from ..accounts.locks import load_member
from ..accounts.models import Company, User
from ..booking.rules import split_vat
from ..core import audit, outbox
from ..core.locking import write
from ..errors import InvalidInput, NotFound
from .errors import PaymentError
from .locks import lock_payment
from .models import (
    DESK_METHODS,
    DESK_PROVIDER,
    ManualCharge,
    Payment,
    PaymentMethod,
    PaymentStatus,
)

# The reduced German rate (food, books, ...) and none (exempt): the choices beside the
# configured standard rate.
REDUCED_VAT_PERCENT = 7
DESCRIPTION_MAX = 200
REFERENCE_MAX = 140
# A manual charge above this is a typo (a missing comma), not a print job: 10,000 EUR.
CHARGE_MAX_CENTS = 1_000_000


def vat_rates(standard: int) -> list[int]:
    """The rates a manual charge may carry: the configured standard rate, 7 % and 0 %."""
    return sorted({standard, REDUCED_VAT_PERCENT, 0}, reverse=True)


@dataclass(frozen=True)
class ChargeAmounts:
    gross_cents: int
    net_cents: int
    tax_cents: int
    vat_percent: int


def charge_amounts(gross_cents: int, vat_percent: int, *, standard: int) -> ChargeAmounts:
    """Net and tax of a gross amount at one of the allowed rates, exact in cents (net rounded
    half up, tax the rest: ``split_vat``, as for bookings). Refuses anything else."""
    if vat_percent not in vat_rates(standard):
        message = _l("Please choose one of the VAT rates offered.")
        raise InvalidInput(message, fields={"vat_percent": [str(message)]})
    if not 0 < gross_cents <= CHARGE_MAX_CENTS:
        message = _l("Please enter an amount above 0 and up to 10,000 euros.")
        raise InvalidInput(message, fields={"amount": [str(message)]})
    net, tax = split_vat(gross_cents, vat_percent)
    return ChargeAmounts(gross_cents, net, tax, vat_percent)


def add_charge(
    session: Session,
    *,
    actor: User,
    member_id: int,
    description: str,
    gross_cents: int,
    vat_percent: int,
    standard_vat_percent: int,
    method: PaymentMethod,
    to_company: bool,
    currency: str,
    now: datetime,
) -> ManualCharge:
    """Charge the member (or their company) for something by hand: paid at once at the desk
    (cash or card terminal; a receipt goes out) or billed on invoice (an open amount until the
    transfer is recorded; only for members or companies allowed to pay so)."""
    text = " ".join(description.split())
    if not text or len(text) > DESCRIPTION_MAX:
        message = _l("Please describe the charge (at most 200 characters).")
        raise InvalidInput(message, fields={"description": [str(message)]})
    if method not in (*DESK_METHODS, PaymentMethod.INVOICE):
        message = _l("Please choose how it is paid.")
        raise InvalidInput(message, fields={"method": [str(message)]})
    amounts = charge_amounts(gross_cents, vat_percent, standard=standard_vat_percent)
    with write(session):
        member = load_member(session, actor, member_id)
        company: Company | None = member.company if to_company else None
        if to_company and company is None:
            message = _l("This member belongs to no company.")
            raise InvalidInput(message, fields={"to_company": [str(message)]})
        if method is PaymentMethod.INVOICE and not (
            company.may_pay_on_invoice if company is not None else member.may_pay_on_invoice
        ):
            message = (
                _l("This company may not pay on invoice. Staff can allow it on the member's page.")
                if company is not None else
                _l("This member may not pay on invoice. Staff can allow it on the member's page.")
            )
            raise InvalidInput(message, fields={"method": [str(message)]})
        paid = method in DESK_METHODS
        payment = Payment(
            user=member, company=company, provider=DESK_PROVIDER, method=method,
            status=PaymentStatus.PAID if paid else PaymentStatus.PENDING,
            amount_cents=amounts.gross_cents, net_cents=amounts.net_cents,
            tax_cents=amounts.tax_cents, received_cents=amounts.gross_cents if paid else 0,
            currency=currency, recorded_by_id=actor.id,
            settled_at=now if paid else None, settled_by_id=actor.id if paid else None,
            created_at=now, updated_at=now,
        )
        charge = ManualCharge(
            payment=payment, user=member, company=company, description=text,
            vat_percent=amounts.vat_percent, gross_cents=amounts.gross_cents,
            net_cents=amounts.net_cents, tax_cents=amounts.tax_cents,
            created_by_id=actor.id, created_at=now,
        )
        session.add_all([payment, charge])
        session.flush()
        audit.record(
            session, action="charge.created", now=now, actor_id=actor.id,
            object_type="payment", object_id=payment.id,
            details={
                "charge": charge.id, "member": member.id,
                **({"company": company.id} if company is not None else {}),
                "description": text, "method": method.value,
                "gross_cents": amounts.gross_cents, "net_cents": amounts.net_cents,
                "tax_cents": amounts.tax_cents, "vat_percent": amounts.vat_percent,
            },
        )
        if paid:
            outbox.enqueue(
                session, topic="mail.desk_receipt", now=now, user_id=member.id,
                payload={"payment_id": payment.id}, key=f"mail.desk_receipt:{payment.id}",
            )
    return charge


def record_transfer(
    session: Session, *, actor: User, payment_id: int, reference: str, now: datetime
) -> Payment:
    """The bank transfer for an open amount has arrived: the payment is paid in full. Under
    the payment's lock, so a form sent twice records it once; the second answer says it is
    already recorded (``already_settled``)."""
    if not actor.is_staff:
        raise NotFound()
    text = " ".join(reference.split())
    if len(text) > REFERENCE_MAX:
        message = _l("The reference may have at most 140 characters.")
        raise InvalidInput(message, fields={"reference": [str(message)]})
    with write(session):
        payment = lock_payment(session, payment_id)
        if payment.method is not PaymentMethod.INVOICE:
            raise PaymentError(
                "not_on_invoice", 409, _l("This payment is not billed on invoice."))
        if not payment.owes_transfer:
            raise PaymentError(
                "already_settled", 409,
                _l("The transfer for this amount has already been recorded."))
        payment.record_transfer(by_id=actor.id, reference=text, now=now)
        audit.record(
            session, action="payment.transfer_recorded", now=now, actor_id=actor.id,
            object_type="payment", object_id=payment.id,
            details={"amount_cents": payment.amount_cents, "reference": text,
                     "member": payment.user_id,
                     **({"company": payment.company_id} if payment.company_id else {})},
        )
    return payment


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAmounts:
    payments: list[Payment]

    @property
    def total_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments)


def _with_lines(query: Select[tuple[Payment]]) -> Select[tuple[Payment]]:
    return query.options(
        selectinload(Payment.bookings), selectinload(Payment.charges),
        selectinload(Payment.user), selectinload(Payment.company),
        selectinload(Payment.recorded_by), selectinload(Payment.settled_by),
    )


def open_amounts(session: Session) -> OpenAmounts:
    """Every amount on invoice not yet paid, oldest first: who owes what since when."""
    return OpenAmounts(list(session.scalars(_with_lines(
        select(Payment).where(
            Payment.method == PaymentMethod.INVOICE, Payment.status == PaymentStatus.PENDING
        ).order_by(Payment.created_at, Payment.id)
    ))))


def recent_desk_payments(session: Session, *, limit: int = 50) -> list[Payment]:
    """The latest payments taken or settled at the desk, newest first."""
    return list(session.scalars(_with_lines(
        select(Payment).where(
            Payment.method != PaymentMethod.ONLINE, Payment.status == PaymentStatus.PAID
        ).order_by(Payment.settled_at.desc(), Payment.id.desc()).limit(limit)
    )))


def member_payments(session: Session, user_id: int, *, limit: int = 100) -> list[Payment]:
    """A member's payments of every method, newest first (the staff member page)."""
    return list(session.scalars(_with_lines(
        select(Payment).where(Payment.user_id == user_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit)
    )))
