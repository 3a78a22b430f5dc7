"""The simulated gateway's subscriptions: Stripe Billing's behaviour, offline.

A sign-up checkout (``mode=subscription``) collects a card or a SEPA direct debit mandate
and starts a subscription billed on the 1st (``billing_cycle_anchor``): started today, the
first invoice is our pro-rated first amount, charged at once; started on the 1st of next
month, the subscription is ``trialing`` until then. ``run_billing`` (called by the worker with
its clock, standing in for Stripe's own schedule) makes and charges each renewal invoice on
the 1st. A charge fails while the subscription's ``failing`` switch is on (the test page's
"make the next renewal fail"); a setup checkout (``mode=setup``) replaces the payment method
and turns the switch off. Retries are asked for with ``pay_invoice``, as on Stripe.

Its state lives in ``simulated_subscription`` (invoices as JSON) and ``simulated_checkout``
(the checkouts, ``details["mode"]``), written through the gateway's own session.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.time import to_local
from .gateway import (
    GatewayNotFound,
    GatewayRefused,
    RemoteInvoice,
    RemoteSubscription,
    SetupCheckoutRequest,
    SubscriptionCheckout,
    SubscriptionCheckoutRequest,
)
from .models import SimulatedCheckout, SimulatedSubscription

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

CARD_LABEL = "Visa •••• 4242"
DECLINED = {
    "card": "Your card was declined.",
    "sepa_debit": "The direct debit was returned by the bank.",
}


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def iban_label(iban: str) -> str:
    compact = iban.replace(" ", "").upper()
    return f"{compact[:4]} •••• {compact[-4:]}"


class SimulatedBilling:
    """Mixed into ``SimulatedGateway`` (which provides ``_session`` and ``checkout_url``)."""

    checkout_url: Callable[[str], str]
    _session: Callable[[], AbstractContextManager[Session]]

    # --- snapshots ---------------------------------------------------------------------

    @staticmethod
    def _invoice(raw: dict[str, Any]) -> RemoteInvoice:
        return RemoteInvoice(
            id=raw["id"], status=raw["status"], amount_cents=int(raw["amount"]),
            amount_paid_cents=int(raw["amount_paid"]),
            period_start=date.fromisoformat(raw["period_start"]),
            period_end=date.fromisoformat(raw["period_end"]),
            billing_reason=raw["billing_reason"], attempt_count=int(raw["attempt_count"]),
            charge_id=raw.get("charge_id"), last_error=raw.get("last_error"),
            created_at=datetime.fromisoformat(raw["created_at"]),
            paid_at=datetime.fromisoformat(raw["paid_at"]) if raw.get("paid_at") else None,
        )

    def _subscription(self, row: SimulatedSubscription) -> RemoteSubscription:
        return RemoteSubscription(
            id=row.id, status=row.status, customer_ref=row.customer_id,
            current_period_start=date.fromisoformat(row.current_period_start),
            current_period_end=date.fromisoformat(row.current_period_end),
            payment_method=row.payment_method, payment_method_label=row.payment_method_label,
            mandate_reference=row.mandate_reference, unit_amount_cents=row.unit_amount_cents,
            quantity=row.quantity,
            cancel_at=date.fromisoformat(row.cancel_at) if row.cancel_at else None,
            invoices=tuple(self._invoice(i) for i in row.invoices),
            metadata={str(k): str(v) for k, v in row.details.get("metadata", {}).items()},
        )

    def _sub_checkout(self, session: Session, row: SimulatedCheckout) -> SubscriptionCheckout:
        ref = row.details.get("subscription_ref")
        sub = session.get(SimulatedSubscription, ref) if ref else None
        return SubscriptionCheckout(
            id=row.id, status=row.status, url=self.checkout_url(row.id),
            expires_at=row.expires_at, mode=row.details.get("mode", "payment"),
            subscription=self._subscription(sub) if sub is not None else None,
            metadata={str(k): str(v) for k, v in row.details.get("metadata", {}).items()},
        )

    @staticmethod
    def _sub_row(session: Session, ref: str, *, lock: bool = False) -> SimulatedSubscription:
        query = select(SimulatedSubscription).where(SimulatedSubscription.id == ref)
        if lock and session.get_bind().dialect.name != "sqlite":
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise GatewayNotFound(f"No such subscription: {ref!r}")
        return row

    @staticmethod
    def _checkout_row(session: Session, checkout_id: str, now: datetime) -> SimulatedCheckout:
        row = session.get(SimulatedCheckout, checkout_id)
        if row is None or row.details.get("mode") not in ("subscription", "setup"):
            raise GatewayNotFound(f"No such checkout: {checkout_id!r}")
        if row.status == "open" and row.expires_at <= now:
            row.status = "expired"
        return row

    # --- checkouts -----------------------------------------------------------------------

    def _open(self, key: str, build: Callable[[], SimulatedCheckout]) -> SubscriptionCheckout:
        def attempt() -> SubscriptionCheckout:
            with self._session() as session:
                row = session.scalar(
                    select(SimulatedCheckout).where(SimulatedCheckout.idempotency_key == key)
                )
                if row is None:
                    row = build()
                    session.add(row)
                    session.flush()
                return self._sub_checkout(session, row)

        try:
            return attempt()
        except IntegrityError:  # the same key at the same moment: answer with the other
            return attempt()

    def create_subscription_checkout(
        self, request: SubscriptionCheckoutRequest, *, now: datetime
    ) -> SubscriptionCheckout:
        def build() -> SimulatedCheckout:
            return SimulatedCheckout(
                id=f"cs_sim_{secrets.token_urlsafe(18)}",
                idempotency_key=f"sub-{request.idempotency_key}",
                status="open", capture_method="automatic",
                amount_cents=request.first_amount_cents if request.starts_on <= to_local(
                    now).date() else 0,
                currency=request.currency, received_cents=0, refunds=[],
                line_items=[{"name": request.product_name, "description": "",
                             "amount_cents": request.first_amount_cents}],
                details={
                    "mode": "subscription",
                    "metadata": {"subscription_id": str(request.subscription_id)},
                    "customer_email": request.customer_email,
                    "customer_ref": request.customer_ref,
                    "payment_method": request.payment_method,
                    "subscription": {
                        "unit_amount": request.unit_amount_cents,
                        "quantity": request.quantity,
                        "starts_on": request.starts_on.isoformat(),
                        "first_period_end": request.first_period_end.isoformat(),
                        "first_amount": request.first_amount_cents,
                        "product": request.product_name,
                    },
                },
                success_url=request.success_url, cancel_url=request.cancel_url,
                expires_at=request.expires_at, created_at=now,
            )

        return self._open(f"sub-{request.idempotency_key}", build)

    def create_setup_checkout(
        self, request: SetupCheckoutRequest, *, now: datetime
    ) -> SubscriptionCheckout:
        def build() -> SimulatedCheckout:
            return SimulatedCheckout(
                id=f"cs_sim_{secrets.token_urlsafe(18)}",
                idempotency_key=f"setup-{request.idempotency_key}",
                status="open", capture_method="automatic", amount_cents=0,
                currency="EUR", received_cents=0, refunds=[], line_items=[],
                details={
                    "mode": "setup",
                    "metadata": {"subscription_id": str(request.subscription_id)},
                    "subscription_ref": request.gateway_subscription_id,
                    "payment_method": request.payment_method,
                },
                success_url=request.success_url, cancel_url=request.cancel_url,
                expires_at=request.expires_at, created_at=now,
            )

        return self._open(f"setup-{request.idempotency_key}", build)

    def get_subscription_checkout(
        self, checkout_id: str, *, now: datetime
    ) -> SubscriptionCheckout:
        with self._session() as session:
            return self._sub_checkout(session, self._checkout_row(session, checkout_id, now))

    def expire_subscription_checkout(
        self, checkout_id: str, *, now: datetime
    ) -> SubscriptionCheckout:
        with self._session() as session:
            row = self._checkout_row(session, checkout_id, now)
            if row.status == "open":
                row.status = "expired"
            return self._sub_checkout(session, row)

    # --- subscriptions -------------------------------------------------------------------

    def get_subscription(self, subscription_ref: str, *, now: datetime) -> RemoteSubscription:
        with self._session() as session:
            return self._subscription(self._sub_row(session, subscription_ref))

    def find_subscriptions(
        self, subscription_id: int, *, since: datetime
    ) -> list[RemoteSubscription]:
        with self._session() as session:
            rows = session.scalars(
                select(SimulatedSubscription).where(SimulatedSubscription.created_at >= since)
                .order_by(SimulatedSubscription.created_at)
            ).all()
            return [
                self._subscription(r) for r in rows
                if r.details.get("metadata", {}).get("subscription_id") == str(subscription_id)
            ]

    def _new_invoice(
        self, row: SimulatedSubscription, *, start: date, end: date, amount: int, reason: str,
        now: datetime,
    ) -> dict[str, Any]:
        invoice = {
            "id": f"in_{row.id.removeprefix('sub_')}_{len(row.invoices) + 1}",
            "status": "open", "amount": amount, "amount_paid": 0,
            "period_start": start.isoformat(), "period_end": end.isoformat(),
            "billing_reason": reason, "attempt_count": 0, "charge_id": None,
            "last_error": None, "created_at": now.isoformat(), "paid_at": None,
        }
        row.invoices = [*row.invoices, invoice]
        return invoice

    @staticmethod
    def _charge(row: SimulatedSubscription, invoice_id: str, now: datetime) -> dict[str, Any]:
        """One attempt to collect an invoice; the row's status follows (active/past_due)."""
        invoices = [dict(i) for i in row.invoices]
        invoice = next(i for i in invoices if i["id"] == invoice_id)
        if invoice["status"] == "open":
            invoice["attempt_count"] += 1
            if row.failing:
                invoice["last_error"] = DECLINED.get(row.payment_method, DECLINED["card"])
            else:
                invoice.update(
                    status="paid", amount_paid=invoice["amount"], last_error=None,
                    charge_id=f"ch_sim_{secrets.token_hex(8)}", paid_at=now.isoformat(),
                )
        row.invoices = invoices
        if row.status in ("active", "past_due", "incomplete"):
            unpaid = any(i["status"] == "open" and i["attempt_count"] for i in invoices)
            row.status = "past_due" if unpaid else "active"
        row.updated_at = now
        return invoice

    def pay_invoice(
        self, invoice_ref: str, *, idempotency_key: str, now: datetime
    ) -> RemoteInvoice:
        ref = "sub_" + invoice_ref.removeprefix("in_").rsplit("_", 1)[0]
        with self._session() as session:
            row = self._sub_row(session, ref, lock=True)
            done = row.details.get("pay_keys", [])
            invoice = next((i for i in row.invoices if i["id"] == invoice_ref), None)
            if invoice is None:
                raise GatewayNotFound(f"No such invoice: {invoice_ref!r}")
            if invoice["status"] in ("void", "uncollectible"):
                raise GatewayRefused("This invoice can no longer be paid.")
            if idempotency_key in done:
                return self._invoice(invoice)
            row.details = {**row.details, "pay_keys": [*done, idempotency_key][-50:]}
            return self._invoice(self._charge(row, invoice_ref, now))

    def change_subscription(
        self, subscription_ref: str, *, unit_amount_cents: int, quantity: int,
        proration_date: date, idempotency_key: str, now: datetime,
        tier_id: int | None = None, product_name: str | None = None,
    ) -> RemoteSubscription:
        """New price or seats from ``proration_date``: the difference for the rest of the
        period (by days, half up) is invoiced and charged at once (always_invoice)."""
        with self._session() as session:
            row = self._sub_row(session, subscription_ref, lock=True)
            if idempotency_key in row.details.get("change_keys", []):
                return self._subscription(row)
            end = date.fromisoformat(row.current_period_end)
            total = (end - end.replace(day=1)).days + 1
            days = (end - proration_date).days + 1
            old = row.unit_amount_cents * row.quantity
            new = unit_amount_cents * quantity
            diff = (2 * (new - old) * days + total) // (2 * total)
            row.unit_amount_cents, row.quantity = unit_amount_cents, quantity
            row.details = {**row.details,
                           "change_keys": [*row.details.get("change_keys", []), idempotency_key]}
            if diff > 0 and row.status != "trialing":
                invoice = self._new_invoice(row, start=proration_date, end=end, amount=diff,
                                            reason="subscription_update", now=now)
                self._charge(row, invoice["id"], now)
            return self._subscription(row)

    def cancel_subscription(
        self, subscription_ref: str, *, at: date | None, idempotency_key: str, now: datetime,
    ) -> RemoteSubscription:
        with self._session() as session:
            row = self._sub_row(session, subscription_ref, lock=True)
            if row.status == "canceled":
                return self._subscription(row)
            if at is None:
                row.status = "canceled"
                row.invoices = [
                    {**i, "status": "void"} if i["status"] == "open" else i
                    for i in row.invoices
                ]
            else:
                row.cancel_at = at.isoformat()
            row.updated_at = now
            return self._subscription(row)

    def resume_subscription(
        self, subscription_ref: str, *, idempotency_key: str, now: datetime,
    ) -> RemoteSubscription:
        with self._session() as session:
            row = self._sub_row(session, subscription_ref, lock=True)
            if row.status == "canceled":
                raise GatewayRefused("This subscription has already ended.")
            row.cancel_at = None
            row.updated_at = now
            return self._subscription(row)

    def run_billing(self, *, now: datetime) -> int:
        """Bill every period that has begun by today (local): the renewal invoice of each
        1st, charged at once; a subscription whose ``cancel_at`` has passed is cancelled."""
        today = to_local(now).date()
        made = 0
        with self._session() as session:
            rows = session.scalars(
                select(SimulatedSubscription).where(
                    SimulatedSubscription.status.in_(("active", "trialing", "past_due"))
                ).order_by(SimulatedSubscription.id)
            ).all()
            for row in rows:
                while date.fromisoformat(row.current_period_end) < today:
                    end = date.fromisoformat(row.current_period_end)
                    if row.cancel_at and date.fromisoformat(row.cancel_at) <= end:
                        row.status = "canceled"
                        break
                    start = end + timedelta(days=1)
                    row.current_period_start = start.isoformat()
                    row.current_period_end = _month_end(start).isoformat()
                    if row.status == "trialing":
                        row.status = "active"
                    invoice = self._new_invoice(
                        row, start=start, end=_month_end(start),
                        amount=row.unit_amount_cents * row.quantity,
                        reason="subscription_cycle", now=now,
                    )
                    self._charge(row, invoice["id"], now)
                    made += 1
        return made

    # --- what the checkout page and the test page do -------------------------------------

    def complete_subscription_checkout(
        self, checkout_id: str, *, payment_method: str, iban: str | None, now: datetime
    ) -> SubscriptionCheckout:
        """The member chose a method (and, for SEPA, gave an IBAN and the mandate) and
        pressed "Subscribe": like Stripe's page for ``mode=subscription`` or ``setup``."""
        if payment_method not in DECLINED:
            raise GatewayRefused("Unknown payment method.")
        label = iban_label(iban) if payment_method == "sepa_debit" and iban else CARD_LABEL
        mandate = (
            f"SIM-{secrets.token_hex(6).upper()}" if payment_method == "sepa_debit" else None
        )
        with self._session() as session:
            row = self._checkout_row(session, checkout_id, now)
            if row.status != "open":
                raise GatewayRefused("This checkout is no longer open.")
            row.status = "complete"
            if row.details.get("mode") == "setup":
                sub = self._sub_row(session, row.details["subscription_ref"], lock=True)
                sub.payment_method, sub.payment_method_label = payment_method, label
                sub.mandate_reference = mandate
                sub.failing = False
                sub.updated_at = now
                return self._sub_checkout(session, row)
            spec = row.details["subscription"]
            starts_on = date.fromisoformat(spec["starts_on"])
            today = to_local(now).date()
            sub = SimulatedSubscription(
                id=f"sub_sim_{secrets.token_hex(10)}",
                idempotency_key=f"from-{checkout_id}",
                status="trialing" if starts_on > today else "incomplete",
                customer_id=row.details.get("customer_ref") or f"cus_sim_{secrets.token_hex(8)}",
                payment_method=payment_method, payment_method_label=label,
                mandate_reference=mandate, failing=False,
                unit_amount_cents=int(spec["unit_amount"]), quantity=int(spec["quantity"]),
                currency=row.currency,
                current_period_start=(today if starts_on > today else starts_on).isoformat(),
                current_period_end=(
                    starts_on - timedelta(days=1) if starts_on > today
                    else date.fromisoformat(spec["first_period_end"])
                ).isoformat(),
                invoices=[], details={"metadata": row.details.get("metadata", {})},
                created_at=now, updated_at=now,
            )
            session.add(sub)
            if starts_on <= today:
                invoice = self._new_invoice(
                    sub, start=starts_on, end=date.fromisoformat(spec["first_period_end"]),
                    amount=int(spec["first_amount"]), reason="subscription_create", now=now,
                )
                self._charge(sub, invoice["id"], now)
                if sub.status == "past_due":  # a first charge that fails: Stripe's incomplete
                    sub.status = "incomplete"
            session.flush()
            row.details = {**row.details, "subscription_ref": sub.id}
            return self._sub_checkout(session, row)

    def set_failing(self, subscription_ref: str, failing: bool, *, now: datetime) -> None:
        """The test page: every charge fails until the payment method is replaced."""
        with self._session() as session:
            row = self._sub_row(session, subscription_ref, lock=True)
            row.failing = failing
            row.updated_at = now

    def subscription_checkout_view(
        self, checkout_id: str, *, now: datetime
    ) -> SimulatedCheckout | None:
        with self._session() as session:
            try:
                return self._checkout_row(session, checkout_id, now)
            except GatewayNotFound:
                return None


__all__ = ["SimulatedBilling", "iban_label"]
