"""Reconciliation: repair what a lost webhook or a crash between two halves left behind.

Every open payment and every recent one is pulled again (``pull.refresh``, strict), which
also pushes what is still due. Each step is idempotent and locked, so several machines may
run this at the same time (``flask payments reconcile``, the worker's periodic job).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..booking.settings import BookingSettings
from ..core.locking import end_read
from .gateway import GatewayError, PaymentGateway
from .models import Payment, PaymentMethod, Refund, RefundStatus
from .pull import refresh
from .states import OPEN_STATUSES

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    checked: int = 0
    changed: int = 0
    failed: list[int] = field(default_factory=list)


RECENT = timedelta(days=3)


def reconcile(
    session: Session, gateway: PaymentGateway, *, now: datetime, settings: BookingSettings,
    recent: timedelta = RECENT,
) -> ReconcileReport:
    """Re-fetch every open payment and every recent one, and repair what a lost webhook or a
    crash left behind. Each step is idempotent and locked, so several machines may run this
    at the same time."""
    ids = _to_check(session, gateway, now=now, recent=recent)
    end_read(session)
    report = ReconcileReport()
    for payment_id in ids:
        report.checked += 1
        before = _fingerprint(session, payment_id)
        try:
            refresh(
                session, gateway, payment_id=payment_id, now=now, settings=settings,
                strict=True,
            )
        except GatewayError as exc:
            end_read(session)
            log.warning("reconcile: payment %s: %s", payment_id, exc)
            report.failed.append(payment_id)
            continue
        if _fingerprint(session, payment_id) != before:
            report.changed += 1
    return report


def _to_check(
    session: Session, gateway: PaymentGateway, *, now: datetime, recent: timedelta
) -> list[int]:
    """Open payments, ones changed recently, and ones with a refund still to send; of this
    gateway only: payments taken at the desk or billed on invoice never reached one."""
    return list(session.scalars(
        select(Payment.id)
        .where(
            Payment.provider == gateway.name,
            Payment.method == PaymentMethod.ONLINE,
            or_(
                Payment.status.in_(OPEN_STATUSES),
                Payment.updated_at >= now - recent,
                Payment.id.in_(
                    select(Refund.payment_id).where(Refund.status == RefundStatus.PENDING)
                ),
            ),
        )
        .order_by(Payment.id)
    ).all())


def _fingerprint(session: Session, payment_id: int) -> tuple[Any, ...]:
    payment = session.get(Payment, payment_id)
    assert payment is not None
    session.refresh(payment)
    value = (
        payment.status, payment.checkout_id, payment.received_cents, payment.refunded_cents,
        tuple((r.id, r.status) for r in payment.refunds),
        tuple((b.id, b.status) for b in payment.bookings),
    )
    end_read(session)
    return value
