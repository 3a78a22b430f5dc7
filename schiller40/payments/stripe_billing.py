"""Stripe Billing behind the gateway's subscription calls (monthly fees, issue 19).

Only this module (with ``stripe_gateway.py``) knows Stripe Billing's shapes; it answers with
the plain snapshots of ``gateway.py``. The mapping:

- **Products and prices.** Each tier has one Product (id ``schiller40_tier_<tier id>``) and
  one active monthly Price found by its lookup key ``schiller40_tier_<tier id>_monthly``,
  gross (``tax_behavior=inclusive``). They are synced on demand, whenever a checkout or a
  change needs the tier's price, and for all tiers by ``flask payments stripe-prices``. A
  changed fee makes a new Price that takes over the lookup key; the old one is archived
  (``active=false``), and the subscriptions on it keep paying what they signed up for.
- **Customers.** One per member, with our user id in ``metadata[schiller40_user_id]``
  (found again with the Search API; created with an idempotency key per subscription).
- **Sign-up.** Checkout ``mode=subscription`` with the tier's Price, ``billing_cycle_anchor``
  on the 1st (local midnight, Europe/Berlin) and ``proration_behavior=none``; a start today
  adds our own pro-rated amount for the rest of the month as a one-time line (Stripe puts it
  on the first invoice), so every cent charged is the one our page showed. A start on the
  1st of next month charges nothing now (the method and the SEPA mandate are collected) and
  the first charge is the renewal on the 1st. ``payment_method_types`` is what the member
  chose on our page: ``card`` or ``sepa_debit``.
- **Payment method updates.** Checkout ``mode=setup`` for the subscription's customer; on
  completion its SetupIntent's payment method becomes the subscription's
  ``default_payment_method`` (done when the completed checkout is read, once, and never by
  an older checkout over a newer one).
- **Retries** are ``POST /v1/invoices/{id}/pay``; **changes** update the subscription item
  with ``proration_behavior=always_invoice``; **cancellation** sets ``cancel_at`` (the local
  midnight after the last day) or deletes the subscription now.

Dates: Stripe's instants are turned into local dates; a period's end instant (exclusive) is
the last local day before it.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ..core.time import local_datetime, to_local
from .gateway import (
    GatewayNotFound,
    GatewayRefused,
    RemoteInvoice,
    RemoteSubscription,
    SetupCheckoutRequest,
    SubscriptionCheckout,
    SubscriptionCheckoutRequest,
)

PRODUCT_PREFIX = "schiller40_tier_"
USER_KEY = "schiller40_user_id"
# A completed payment-method checkout that was applied (its creation time): an older one
# read later never replaces the method a newer one set.
APPLIED_KEY = "schiller40_method_checkout"
# Invoices paid this long ago are final: their payment is not looked up again.
RECENT = timedelta(days=40)
MAX_PAGES = 50


def product_id(tier_id: int) -> str:
    return f"{PRODUCT_PREFIX}{tier_id}"


def price_lookup_key(tier_id: int) -> str:
    return f"{PRODUCT_PREFIX}{tier_id}_monthly"


def midnight(day: date) -> int:
    """The Unix time of local midnight (Europe/Berlin) at the start of ``day``."""
    return int(local_datetime(day, time(0)).timestamp())


def _instant(unix: Any) -> datetime:
    return datetime.fromtimestamp(int(unix or 0), tz=UTC)


def local_day(unix: Any) -> date:
    return to_local(_instant(unix)).date()


def last_day(end_unix: Any) -> date:
    """The last local day before an exclusive end instant."""
    return to_local(_instant(end_unix) - timedelta(seconds=1)).date()


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _id(obj: Any) -> str | None:
    """An id field, expanded or not."""
    if isinstance(obj, str):
        return obj
    return _get(obj, "id")


def method_label(pm: Any) -> str:
    """What the member recognises: "Visa •••• 4242", "DE •••• 3000" (an IBAN's country and
    last digits; Stripe never gives the rest)."""
    kind = _get(pm, "type")
    if kind == "card":
        brand = str(_get(pm, "card", "display_brand") or _get(pm, "card", "brand") or "card")
        brand = brand.replace("_", " ").title()
        return f"{brand} •••• {_get(pm, 'card', 'last4') or '????'}"
    if kind == "sepa_debit":
        country = _get(pm, "sepa_debit", "country") or ""
        return f"{country} •••• {_get(pm, 'sepa_debit', 'last4') or '????'}".strip()
    return str(kind or "")


class StripeBilling:
    """The subscription calls of ``StripeGateway`` (mixed into it; uses its ``client`` and
    ``_call``)."""

    client: Any

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

    # --- products and prices ------------------------------------------------------------

    def sync_tier_price(
        self, *, tier_id: int, name: str, unit_amount_cents: int, currency: str,
        active: bool = True,
    ) -> str | None:
        """Make the tier's Product and monthly Price match the tier; returns the Price's id
        (None for a tier no longer sold: its product and price are archived)."""
        product = self._tier_product(tier_id, name, active=active)
        found = self._call(
            self.client.v1.prices.list,
            params={"lookup_keys": [price_lookup_key(tier_id)], "limit": 1},
        )["data"]
        current = found[0] if found else None
        if not active or unit_amount_cents <= 0:
            if current is not None and current.get("active"):
                self._call(self.client.v1.prices.update, current["id"],
                           params={"active": False})
            return None
        if current is not None and current.get("active") and (
            int(current["unit_amount"]), str(current["currency"]).lower(),
            _get(current, "recurring", "interval"), _get(current, "recurring", "interval_count"),
        ) == (unit_amount_cents, currency.lower(), "month", 1):
            return str(current["id"])
        created = self._call(
            self.client.v1.prices.create,
            params={
                "product": product, "currency": currency.lower(),
                "unit_amount": unit_amount_cents, "recurring": {"interval": "month"},
                "tax_behavior": "inclusive", "lookup_key": price_lookup_key(tier_id),
                "transfer_lookup_key": True, "metadata": {"tier_id": str(tier_id)},
            },
            # two processes syncing the same change make one price
            options={"idempotency_key": f"price-{tier_id}-{unit_amount_cents}-"
                                        f"{currency.lower()}-after-"
                                        f"{current['id'] if current else 'none'}"},
        )
        if current is not None and current.get("active"):
            # Archived, not deleted: the subscriptions on it keep paying their fee.
            self._call(self.client.v1.prices.update, current["id"], params={"active": False})
        return str(created["id"])

    def has_tier_product(self, tier_id: int) -> bool:
        try:
            self._call(self.client.v1.products.retrieve, product_id(tier_id))
        except GatewayNotFound:
            return False
        return True

    def _tier_product(self, tier_id: int, name: str, *, active: bool = True) -> str:
        pid = product_id(tier_id)
        try:
            product = self._call(self.client.v1.products.retrieve, pid)
        except GatewayNotFound:
            try:
                product = self._call(
                    self.client.v1.products.create,
                    params={"id": pid, "name": name, "active": active,
                            "metadata": {"tier_id": str(tier_id)}},
                    options={"idempotency_key": f"product-{pid}"},
                )
            except GatewayRefused:  # made by another process meanwhile
                product = self._call(self.client.v1.products.retrieve, pid)
        if product.get("name") != name or bool(product.get("active")) != active:
            self._call(self.client.v1.products.update, pid,
                       params={"name": name, "active": active})
        return pid

    def _price_of_amount(self, product: str, amount: int, currency: str) -> str:
        """An active monthly price of ``product`` for ``amount`` (a subscription whose fee
        is not the tier's current one), made if there is none."""
        listed = self._call(self.client.v1.prices.list,
                            params={"product": product, "active": True, "limit": 100})
        for price in listed["data"]:
            if (int(price["unit_amount"] or 0), str(price["currency"]).lower(),
                    _get(price, "recurring", "interval")) == (amount, currency.lower(), "month"):
                return str(price["id"])
        created = self._call(
            self.client.v1.prices.create,
            params={"product": product, "currency": currency.lower(), "unit_amount": amount,
                    "recurring": {"interval": "month"}, "tax_behavior": "inclusive"},
            options={"idempotency_key": f"price-{product}-{amount}-{currency.lower()}"},
        )
        return str(created["id"])

    # --- customers ----------------------------------------------------------------------

    def _customer(self, request: SubscriptionCheckoutRequest) -> str:
        if request.customer_ref:
            return request.customer_ref
        if request.user_id is not None:
            found = self._call(
                self.client.v1.customers.search,
                params={"query": f"metadata['{USER_KEY}']:'{request.user_id}'", "limit": 1},
            )["data"]
            if found:
                return str(found[0]["id"])
        params: dict[str, Any] = {"preferred_locales": [request.locale]}
        if request.customer_email:
            params["email"] = request.customer_email
        if request.user_id is not None:
            params["metadata"] = {USER_KEY: str(request.user_id)}
        created = self._call(
            self.client.v1.customers.create, params=params,
            options={"idempotency_key": f"customer-{request.idempotency_key}"},
        )
        return str(created["id"])

    # --- checkouts ----------------------------------------------------------------------

    def create_subscription_checkout(
        self, request: SubscriptionCheckoutRequest, *, now: datetime
    ) -> SubscriptionCheckout:
        currency = request.currency.lower()
        today = to_local(now).date()
        if request.tier_id is not None:
            price = self.sync_tier_price(
                tier_id=request.tier_id, name=request.product_name,
                unit_amount_cents=request.unit_amount_cents, currency=currency,
            )
            assert price is not None
            recurring: dict[str, Any] = {"price": price, "quantity": request.quantity}
            one_time_product: dict[str, Any] = {"product": product_id(request.tier_id)}
        else:
            recurring = {"quantity": request.quantity, "price_data": {
                "currency": currency, "unit_amount": request.unit_amount_cents,
                "recurring": {"interval": "month"},
                "product_data": {"name": request.product_name}}}
            one_time_product = {"product_data": {"name": request.product_name}}
        line_items = [recurring]
        if request.starts_on <= today:
            # From today: our pro-rated amount for the rest of the month, on the first
            # invoice; the subscription's own price starts with the 1st.
            anchor_day = request.first_period_end + timedelta(days=1)
            if request.first_amount_cents > 0:
                line_items.append({"quantity": 1, "price_data": {
                    "currency": currency, "unit_amount": request.first_amount_cents,
                    **one_time_product}})
        else:  # from the 1st of next month: nothing now, the first charge on that day
            anchor_day = request.starts_on
        metadata = {"subscription_id": str(request.subscription_id), "kind": "subscription"}
        if request.user_id is not None:
            metadata[USER_KEY] = str(request.user_id)
        if request.tier_id is not None:
            metadata["tier_id"] = str(request.tier_id)
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": self._customer(request),
            "client_reference_id": f"subscription-{request.subscription_id}",
            "line_items": line_items,
            "payment_method_types": [request.payment_method],
            "subscription_data": {
                "billing_cycle_anchor": midnight(anchor_day),
                "proration_behavior": "none",
                "metadata": metadata,
                "description": request.product_name,
            },
            "metadata": metadata,
            "expires_at": int(request.expires_at.timestamp()),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "locale": request.locale,
        }
        session = self._call(
            self.client.v1.checkout.sessions.create, params=params,
            options={"idempotency_key": f"sub-checkout-{request.idempotency_key}"},
        )
        return self._subscription_checkout(session, now=now)

    def create_setup_checkout(
        self, request: SetupCheckoutRequest, *, now: datetime
    ) -> SubscriptionCheckout:
        sub = self._call(self.client.v1.subscriptions.retrieve,
                         request.gateway_subscription_id)
        metadata = {"subscription_id": str(request.subscription_id), "kind": "payment_method",
                    "gateway_subscription_id": request.gateway_subscription_id}
        session = self._call(
            self.client.v1.checkout.sessions.create,
            params={
                "mode": "setup", "customer": _id(sub["customer"]),
                "payment_method_types": [request.payment_method],
                "setup_intent_data": {"metadata": metadata},
                "metadata": metadata,
                "expires_at": int(request.expires_at.timestamp()),
                "success_url": request.success_url, "cancel_url": request.cancel_url,
                "locale": request.locale,
            },
            options={"idempotency_key": f"setup-checkout-{request.idempotency_key}"},
        )
        return self._subscription_checkout(session, now=now)

    def get_subscription_checkout(
        self, checkout_id: str, *, now: datetime
    ) -> SubscriptionCheckout:
        session = self._call(self.client.v1.checkout.sessions.retrieve, checkout_id)
        return self._subscription_checkout(session, now=now)

    def expire_subscription_checkout(
        self, checkout_id: str, *, now: datetime
    ) -> SubscriptionCheckout:
        with contextlib.suppress(GatewayRefused):  # no longer open: what it is now tells
            self._call(self.client.v1.checkout.sessions.expire, checkout_id)
        return self.get_subscription_checkout(checkout_id, now=now)

    def _subscription_checkout(self, session: dict[str, Any], *, now: datetime
                               ) -> SubscriptionCheckout:
        metadata = {str(k): str(v) for k, v in (session.get("metadata") or {}).items()}
        mode = str(session.get("mode"))
        remote: RemoteSubscription | None = None
        if mode == "subscription" and session.get("status") == "complete":
            ref = _id(session.get("subscription"))
            if ref:
                remote = self.get_subscription(ref, now=now)
        elif mode == "setup" and metadata.get("gateway_subscription_id"):
            ref = metadata["gateway_subscription_id"]
            if session.get("status") == "complete":
                self._apply_setup(session, ref)
            remote = self.get_subscription(ref, now=now)
        return SubscriptionCheckout(
            id=str(session["id"]), status=str(session["status"]), url=session.get("url"),
            expires_at=_instant(session.get("expires_at")), mode=mode,
            subscription=remote, metadata=metadata,
        )

    def _apply_setup(self, session: dict[str, Any], subscription_ref: str) -> None:
        """Make the payment method of a completed setup checkout the subscription's default,
        unless a newer checkout already set one."""
        seti_id = _id(session.get("setup_intent"))
        if not seti_id:
            return
        seti = self._call(self.client.v1.setup_intents.retrieve, seti_id)
        pm = _id(seti.get("payment_method"))
        if seti.get("status") != "succeeded" or not pm:
            return
        sub = self._call(self.client.v1.subscriptions.retrieve, subscription_ref)
        applied = str((sub.get("metadata") or {}).get(APPLIED_KEY) or "0")
        created = int(session.get("created") or 0)
        if _id(sub.get("default_payment_method")) == pm or (
            applied.isdigit() and int(applied) > created
        ) or sub.get("status") in ("canceled", "incomplete_expired"):
            return
        self._call(
            self.client.v1.subscriptions.update, subscription_ref,
            params={"default_payment_method": pm, "metadata": {APPLIED_KEY: str(created)}},
            options={"idempotency_key": f"apply-setup-{session['id']}"},
        )

    # --- subscriptions ------------------------------------------------------------------

    def get_subscription(self, subscription_ref: str, *, now: datetime) -> RemoteSubscription:
        sub = self._call(self.client.v1.subscriptions.retrieve, subscription_ref,
                         params={"expand": ["default_payment_method"]})
        invoices: list[dict[str, Any]] = []
        params: dict[str, Any] = {"subscription": subscription_ref, "limit": 100,
                                  "expand": ["data.payments"]}
        for _page in range(MAX_PAGES):
            page = self._call(self.client.v1.invoices.list, params=params)
            invoices.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                break
            params = {**params, "starting_after": page["data"][-1]["id"]}
        return self._remote_subscription(sub, invoices, now=now)

    def find_subscriptions(self, subscription_id: int, *, since: datetime
                           ) -> list[RemoteSubscription]:
        found: list[RemoteSubscription] = []
        params: dict[str, Any] = {"created": {"gte": int(since.timestamp())}, "status": "all",
                                  "limit": 100}
        for _page in range(MAX_PAGES):
            page = self._call(self.client.v1.subscriptions.list, params=params)
            for sub in page["data"]:
                if (sub.get("metadata") or {}).get("subscription_id") == str(subscription_id):
                    found.append(self.get_subscription(sub["id"], now=since))
            if not page.get("has_more") or not page["data"]:
                break
            params = {**params, "starting_after": page["data"][-1]["id"]}
        return found

    def pay_invoice(self, invoice_ref: str, *, idempotency_key: str, now: datetime
                    ) -> RemoteInvoice:
        try:
            self._call(self.client.v1.invoices.pay, invoice_ref,
                       options={"idempotency_key": f"pay-{idempotency_key}"})
        except GatewayNotFound:
            raise
        except GatewayRefused:
            pass  # declined, already paid, a debit processing: the invoice tells
        invoice = self._call(self.client.v1.invoices.retrieve, invoice_ref,
                             params={"expand": ["payments"]})
        details = self._payment_details([invoice], now=now, force=True)
        return self._remote_invoice(invoice, details.get(invoice["id"], {}))

    def change_subscription(
        self, subscription_ref: str, *, unit_amount_cents: int, quantity: int,
        proration_date: date, idempotency_key: str, now: datetime,
        tier_id: int | None = None, product_name: str | None = None,
    ) -> RemoteSubscription:
        sub = self._call(self.client.v1.subscriptions.retrieve, subscription_ref)
        item = sub["items"]["data"][0]
        old = item["price"]
        currency = str(old["currency"])
        if tier_id is not None:
            price = self.sync_tier_price(
                tier_id=tier_id, name=product_name or str(tier_id),
                unit_amount_cents=unit_amount_cents, currency=currency,
            )
            assert price is not None
        elif int(old["unit_amount"] or 0) == unit_amount_cents:
            price = str(old["id"])
        else:
            price = self._price_of_amount(_id(old["product"]) or "", unit_amount_cents,
                                          currency)
        start = int(item["current_period_start"])
        self._call(
            self.client.v1.subscriptions.update, subscription_ref,
            params={
                "items": [{"id": item["id"], "price": price, "quantity": quantity}],
                "proration_behavior": "always_invoice",
                "proration_date": max(start, midnight(proration_date)),
            },
            options={"idempotency_key": f"change-{idempotency_key}"},
        )
        return self.get_subscription(subscription_ref, now=now)

    def cancel_subscription(
        self, subscription_ref: str, *, at: date | None, idempotency_key: str, now: datetime,
    ) -> RemoteSubscription:
        if at is None:
            try:
                self._call(self.client.v1.subscriptions.cancel, subscription_ref,
                           options={"idempotency_key": f"cancel-{idempotency_key}"})
            except GatewayRefused:
                current = self._call(self.client.v1.subscriptions.retrieve, subscription_ref)
                if current.get("status") not in ("canceled", "incomplete_expired"):
                    raise
        else:
            self._call(
                self.client.v1.subscriptions.update, subscription_ref,
                params={"cancel_at": midnight(at + timedelta(days=1))},
                options={"idempotency_key": f"cancel-at-{idempotency_key}"},
            )
        return self.get_subscription(subscription_ref, now=now)

    def resume_subscription(
        self, subscription_ref: str, *, idempotency_key: str, now: datetime,
    ) -> RemoteSubscription:
        """A cancellation taken back: ``cancel_at`` cleared (Stripe takes the empty string)."""
        self._call(
            self.client.v1.subscriptions.update, subscription_ref,
            params={"cancel_at": ""},
            options={"idempotency_key": f"resume-{idempotency_key}"},
        )
        return self.get_subscription(subscription_ref, now=now)

    def run_billing(self, *, now: datetime) -> int:
        return 0  # Stripe bills on its own schedule; we learn of it by webhooks and sync

    # --- shapes -------------------------------------------------------------------------

    def _payment_details(
        self, invoices: list[dict[str, Any]], *, now: datetime, force: bool = False
    ) -> dict[str, dict[str, Any]]:
        """The latest PaymentIntent (with its charge) of each invoice that may still change:
        open ones, and ones paid recently. Older paid invoices are final and not asked
        about again."""
        details: dict[str, dict[str, Any]] = {}
        for invoice in invoices:
            paid_at = _get(invoice, "status_transitions", "paid_at")
            recent = invoice.get("status") == "open" or force or (
                paid_at is not None and _instant(paid_at) >= now - RECENT
            )
            payments = _get(invoice, "payments", "data") or []
            if not recent or not payments:
                continue
            chosen = next((p for p in payments if p.get("is_default")), payments[-1])
            intent = _id(_get(chosen, "payment", "payment_intent"))
            if intent:
                details[invoice["id"]] = self._call(
                    self.client.v1.payment_intents.retrieve, intent,
                    params={"expand": ["latest_charge"]},
                )
        return details

    def _remote_invoice(self, invoice: dict[str, Any], intent: dict[str, Any]
                        ) -> RemoteInvoice:
        start, end = self._service_period(invoice)
        last_error = None
        status = str(invoice.get("status"))
        if status == "open" and intent.get("status") == "requires_payment_method":
            last_error = str(_get(intent, "last_payment_error", "message")
                             or "The payment failed.")
        paid_at = _get(invoice, "status_transitions", "paid_at")
        return RemoteInvoice(
            id=str(invoice["id"]), status=status,
            amount_cents=int(invoice.get("total") or 0),
            amount_paid_cents=int(invoice.get("amount_paid") or 0),
            period_start=start, period_end=end,
            billing_reason=str(invoice.get("billing_reason") or ""),
            attempt_count=int(invoice.get("attempt_count") or 0),
            charge_id=_id(intent.get("latest_charge")),
            last_error=last_error,
            created_at=_instant(invoice.get("created")),
            paid_at=_instant(paid_at) if paid_at else None,
        )

    @staticmethod
    def _service_period(invoice: dict[str, Any]) -> tuple[date, date]:
        """The months an invoice bills, from its subscription lines (a renewal invoice's own
        period is the one that just ended): a plain line's period, else all lines', else the
        invoice's."""
        lines = _get(invoice, "lines", "data") or []
        subscription_lines = [
            line for line in lines
            if _get(line, "parent", "type") == "subscription_item_details"
        ]
        plain = [line for line in subscription_lines
                 if not _get(line, "parent", "subscription_item_details", "proration")]
        chosen = plain or subscription_lines or lines
        if chosen:
            start = min(int(_get(line, "period", "start")) for line in chosen)
            end = max(int(_get(line, "period", "end")) for line in chosen)
        else:
            start, end = int(invoice["period_start"]), int(invoice["period_end"])
        return local_day(start), max(local_day(start), last_day(end))

    def _remote_subscription(
        self, sub: dict[str, Any], invoices: list[dict[str, Any]], *, now: datetime
    ) -> RemoteSubscription:
        item = sub["items"]["data"][0]
        details = self._payment_details(invoices, now=now)
        pm = sub.get("default_payment_method")
        if isinstance(pm, str):
            pm = self._call(self.client.v1.payment_methods.retrieve, pm)
        kind = str(_get(pm, "type") or "card")
        mandate_reference = None
        if kind == "sepa_debit":
            mandate_reference = self._mandate_reference(sub, pm, invoices, details)
        cancel_at = sub.get("cancel_at")
        metadata = {str(k): str(v) for k, v in (sub.get("metadata") or {}).items()}
        return RemoteSubscription(
            id=str(sub["id"]), status=str(sub["status"]),
            customer_ref=str(_id(sub.get("customer")) or ""),
            current_period_start=local_day(item["current_period_start"]),
            current_period_end=last_day(item["current_period_end"]),
            payment_method=kind if kind in ("card", "sepa_debit") else "card",
            payment_method_label=method_label(pm) if pm else "",
            mandate_reference=mandate_reference,
            unit_amount_cents=int(item["price"]["unit_amount"] or 0),
            quantity=int(item.get("quantity") or 1),
            cancel_at=last_day(cancel_at) if cancel_at else None,
            invoices=tuple(
                self._remote_invoice(inv, details.get(inv["id"], {}))
                for inv in sorted(invoices, key=lambda i: (int(i.get("created") or 0), i["id"]))
            ),
            metadata=metadata,
        )

    def _mandate_reference(self, sub: dict[str, Any], pm: dict[str, Any],
                           invoices: list[dict[str, Any]],
                           details: dict[str, dict[str, Any]]) -> str | None:
        """The SEPA mandate's reference (shown to the member and in every pre-notification):
        the mandate named by a debit's charge or by the SetupIntent that saved the method
        (a checkout with nothing to pay, a payment-method update)."""

        def from_charge(intent: dict[str, Any]) -> str | None:
            charge = intent.get("latest_charge")
            if isinstance(charge, dict) and _id(charge.get("payment_method")) == pm["id"]:
                return _get(charge, "payment_method_details", "sepa_debit", "mandate")
            return None

        mandate_id = next((m for m in map(from_charge, details.values()) if m), None)
        if not mandate_id:
            found = self._call(
                self.client.v1.setup_intents.list,
                params={"customer": _id(sub.get("customer")), "payment_method": pm["id"],
                        "limit": 10},
            )["data"]
            mandate_id = next((_id(s.get("mandate")) for s in found if s.get("mandate")), None)
        if not mandate_id:  # older debits, newest first
            older = [i for i in reversed(invoices) if i["id"] not in details]
            for invoice in older[:6]:
                payments = _get(invoice, "payments", "data") or []
                intent_id = _id(_get(payments[-1], "payment", "payment_intent")) if payments \
                    else None
                if intent_id:
                    mandate_id = from_charge(self._call(
                        self.client.v1.payment_intents.retrieve, intent_id,
                        params={"expand": ["latest_charge"]}))
                    if mandate_id:
                        break
        if not mandate_id:
            return None
        mandate = self._call(self.client.v1.mandates.retrieve, mandate_id)
        reference = _get(mandate, "payment_method_details", "sepa_debit", "reference")
        return str(reference)[:35] if reference else None

    def subscription_of_mandate(self, mandate_id: str) -> tuple[str | None, str | None]:
        """Whose a mandate is (``mandate.updated``): the customer of its payment method (None
        once the method is detached) and the mandate's reference."""
        mandate = self._call(self.client.v1.mandates.retrieve, mandate_id)
        reference = _get(mandate, "payment_method_details", "sepa_debit", "reference")
        customer = None
        pm_id = _id(mandate.get("payment_method"))
        if pm_id:
            pm = self._call(self.client.v1.payment_methods.retrieve, pm_id)
            customer = _id(pm.get("customer"))
        return customer, str(reference)[:35] if reference else None
