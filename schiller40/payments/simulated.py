"""The simulated gateway: the embedded default, so the whole payment flow runs offline.

It behaves like Stripe where it matters to us: checkouts with an expiry, automatic or manual
capture, idempotent creates and refunds, and the same statuses. Its state lives in its own
table and is written through its own database session, as if it were a remote server: the
service's transaction never sees a half-made simulated payment, and it works across several
app processes. Paying on its checkout page sends the same events as Stripe's webhooks would.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.locking import write
from ..extensions import db
from .gateway import (
    Checkout,
    CheckoutRequest,
    GatewayNotFound,
    GatewayRefused,
    Intent,
    IntentStatus,
    RemoteRefund,
)
from .models import SimulatedCheckout
from .simulated_billing import SimulatedBilling


class SimulatedGateway(SimulatedBilling):
    name = "simulated"
    min_checkout_lifetime = timedelta(0)

    def __init__(self, checkout_url: Callable[[str], str]) -> None:
        # Builds the absolute URL of the local checkout page for a checkout id.
        self.checkout_url = checkout_url

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """The "remote server's" own transaction: written (with SQLite's write lock taken at
        the start), committed as a whole or not at all, never part of the caller's."""
        session = Session(db.engine, expire_on_commit=False)
        try:
            with write(session):
                yield session
        finally:
            session.close()

    def _row(self, session: Session, checkout_id: str, *, lock: bool = False) -> SimulatedCheckout:
        query = select(SimulatedCheckout).where(SimulatedCheckout.id == checkout_id)
        if lock and session.get_bind().dialect.name != "sqlite":
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise GatewayNotFound(f"No such checkout: {checkout_id!r}")
        return row

    @staticmethod
    def _lapse(row: SimulatedCheckout, now: datetime) -> None:
        if row.status == "open" and row.expires_at <= now:
            row.status = "expired"

    def _snapshot(self, row: SimulatedCheckout) -> Checkout:
        intent = None
        if row.intent_status is not None:
            refunds = tuple(
                RemoteRefund(
                    id=r["id"], amount_cents=int(r["amount"]), status="succeeded",
                    local_id=r.get("local_id"),
                )
                for r in row.refunds
            )
            intent = Intent(
                id=f"pi_{row.id.removeprefix('cs_')}",
                status=IntentStatus(row.intent_status),
                amount_cents=row.amount_cents,
                received_cents=row.received_cents,
                refunded_cents=sum(r.amount_cents for r in refunds),
                refunds=refunds,
            )
        return Checkout(
            id=row.id,
            status=row.status,
            url=self.checkout_url(row.id),
            expires_at=row.expires_at,
            manual_capture=row.capture_method == "manual",
            intent=intent,
            metadata={str(k): str(v) for k, v in row.details.get("metadata", {}).items()},
        )

    # --- the gateway interface -------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest, *, now: datetime) -> Checkout:
        key = f"checkout-{request.idempotency_key}"
        try:
            return self._create(request, key, now=now)
        except IntegrityError:
            # Two requests with one key at once (a double click): the other one inserted
            # first. Answer with its checkout, as Stripe answers a repeated key.
            return self._create(request, key, now=now)

    def _create(self, request: CheckoutRequest, key: str, *, now: datetime) -> Checkout:
        with self._session() as session:
            row = session.scalar(
                select(SimulatedCheckout).where(SimulatedCheckout.idempotency_key == key)
            )
            if row is None:
                row = SimulatedCheckout(
                    id=f"cs_sim_{secrets.token_urlsafe(18)}",
                    idempotency_key=key,
                    status="open",
                    capture_method="manual" if request.manual_capture else "automatic",
                    amount_cents=sum(i.amount_cents for i in request.items),
                    currency=request.currency,
                    received_cents=0,
                    refunds=[],
                    line_items=[
                        {"name": i.name, "description": i.description,
                         "amount_cents": i.amount_cents}
                        for i in request.items
                    ],
                    details={
                        "reference": request.reference,
                        "customer_email": request.customer_email,
                        "metadata": {
                            "payment_id": str(request.payment_id),
                            "booking_ids": ",".join(str(i) for i in request.booking_ids),
                        },
                    },
                    success_url=request.success_url,
                    cancel_url=request.cancel_url,
                    expires_at=request.expires_at,
                    created_at=now,
                )
                session.add(row)
                session.flush()  # a concurrent insert with the same key fails here
            return self._snapshot(row)

    def get_checkout(self, checkout_id: str, *, now: datetime) -> Checkout:
        with self._session() as session:
            row = self._row(session, checkout_id)
            self._lapse(row, now)
            return self._snapshot(row)

    def expire_checkout(self, checkout_id: str, *, now: datetime) -> Checkout:
        with self._session() as session:
            row = self._row(session, checkout_id, lock=True)
            if row.status == "open":
                row.status = "expired"
            return self._snapshot(row)

    def find_checkouts(self, payment_id: int, *, since: datetime) -> list[Checkout]:
        with self._session() as session:
            rows = session.scalars(
                select(SimulatedCheckout).where(SimulatedCheckout.created_at >= since)
                .order_by(SimulatedCheckout.created_at)
            ).all()
            return [
                self._snapshot(row) for row in rows
                if row.details.get("metadata", {}).get("payment_id") == str(payment_id)
            ]

    def capture(self, intent_id: str, *, amount_cents: int, idempotency_key: str) -> None:
        with self._session() as session:
            row = self._row(session, "cs_" + intent_id.removeprefix("pi_"), lock=True)
            if row.intent_status == IntentStatus.SUCCEEDED:
                return  # captured already: a retry
            if row.intent_status != IntentStatus.REQUIRES_CAPTURE:
                raise GatewayRefused("This payment is not awaiting capture.")
            if not 0 < amount_cents <= row.amount_cents:
                raise GatewayRefused("Capture amount out of range.")
            row.intent_status = IntentStatus.SUCCEEDED
            row.received_cents = amount_cents

    def cancel_authorization(self, intent_id: str, *, idempotency_key: str) -> None:
        with self._session() as session:
            row = self._row(session, "cs_" + intent_id.removeprefix("pi_"), lock=True)
            if row.intent_status == IntentStatus.CANCELED:
                return
            if row.intent_status != IntentStatus.REQUIRES_CAPTURE:
                raise GatewayRefused("This payment cannot be cancelled.")
            row.intent_status = IntentStatus.CANCELED

    def refund(
        self, intent_id: str, *, amount_cents: int, idempotency_key: str, local_id: int
    ) -> RemoteRefund:
        with self._session() as session:
            row = self._row(session, "cs_" + intent_id.removeprefix("pi_"), lock=True)
            for done in row.refunds:
                if done["key"] == idempotency_key:
                    return RemoteRefund(done["id"], int(done["amount"]), "succeeded", local_id)
            left = row.received_cents - sum(int(r["amount"]) for r in row.refunds)
            if row.intent_status != IntentStatus.SUCCEEDED or not 0 < amount_cents <= left:
                raise GatewayRefused("Nothing (or not that much) is left to refund.")
            refund = {
                "id": f"re_sim_{secrets.token_urlsafe(12)}", "amount": amount_cents,
                "key": idempotency_key, "local_id": local_id,
            }
            row.refunds = [*row.refunds, refund]  # a new list, so the JSON column is saved
            return RemoteRefund(refund["id"], amount_cents, "succeeded", local_id)

    def intent_of_charge(self, charge_id: str) -> str | None:
        return None  # the simulation has no charges and sends no charge events

    # --- what the checkout page does -------------------------------------------------------

    def view(self, checkout_id: str, *, now: datetime) -> SimulatedCheckout | None:
        with self._session() as session:
            row = session.get(SimulatedCheckout, checkout_id)
            if row is not None:
                self._lapse(row, now)
            return row

    def complete(self, checkout_id: str, *, now: datetime) -> Checkout:
        """The member pressed "Pay": like a card payment on Stripe's page."""
        with self._session() as session:
            row = self._row(session, checkout_id, lock=True)
            self._lapse(row, now)
            if row.status != "open":
                raise GatewayRefused("This checkout is no longer open.")
            row.status = "complete"
            if row.capture_method == "manual":
                row.intent_status = IntentStatus.REQUIRES_CAPTURE
            else:
                row.intent_status = IntentStatus.SUCCEEDED
                row.received_cents = row.amount_cents
            return self._snapshot(row)
