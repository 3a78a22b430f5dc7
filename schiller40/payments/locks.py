"""The locks every change of a payment takes, in the global order (docs/architecture.md)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..accounts.locks import lock_member
from ..core.locking import lock_rows
from ..errors import NotFound
from ..resources.models import Resource
from .models import Payment


def lock_payment(session: Session, payment_id: int) -> Payment:
    """Take the locks a payment's changes need, in the global order: member, resources,
    payment; only inside a ``write`` block. A booking changes status here, which frees or
    confirms a slot. Answers the payment, read afresh under the locks."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound()
    lock_member(session, payment.user)
    lock_rows(session, Resource, [b.resource_id for b in payment.bookings])
    lock_rows(session, Payment, [payment.id])
    # Everything read before the locks may be stale (another process may have changed the
    # bookings or refunds meanwhile): read it all again under them.
    session.expire_all()
    payment = session.get(Payment, payment_id)
    assert payment is not None
    return payment
