"""Stripe, through the official SDK's ``StripeClient``.

Only this module knows Stripe's shapes. Timeouts are short and the SDK retries network
failures itself (with the same idempotency key, so a retried create is still one checkout);
anything that still fails becomes ``GatewayUnavailable`` so callers release holds or try later
instead of hanging a request for Stripe's default 80 seconds.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from .gateway import (
    Checkout,
    CheckoutRequest,
    GatewayNotFound,
    GatewayRefused,
    GatewayUnavailable,
    Intent,
    IntentStatus,
    RemoteRefund,
)
from .stripe_billing import StripeBilling

# Stripe refuses a Checkout Session that expires sooner than 30 minutes after its creation;
# a minute more covers the time between our clock reading and Stripe's.
STRIPE_MIN_LIFETIME = timedelta(minutes=31)


def _unix(instant: datetime) -> int:
    return int(instant.timestamp())


def _instant(unix: int | None) -> datetime:
    return datetime.fromtimestamp(int(unix or 0), tz=UTC)


def _field(obj: Any, name: str) -> Any:
    """A field of an object Stripe sent (a dict), or None if absent or not expanded."""
    return obj.get(name) if isinstance(obj, dict) else None


class StripeGateway(StripeBilling):
    """Payments (here) and subscriptions (``stripe_billing.StripeBilling``) on Stripe."""

    name = "stripe"
    min_checkout_lifetime = STRIPE_MIN_LIFETIME
    # The billing job re-fetches a running subscription at most this often (webhooks tell
    # us at once; the job repairs lost ones without running into Stripe's rate limits).
    reconcile_interval = timedelta(minutes=10)

    def __init__(
        self, secret_key: str, *, api_base: str = "", timeout_seconds: float = 10,
        max_retries: int = 2,
    ) -> None:
        kwargs: dict[str, Any] = {}
        if api_base:
            kwargs["base_addresses"] = {"api": api_base.rstrip("/")}
        self.client = stripe.StripeClient(
            secret_key,
            max_network_retries=max_retries,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
            **kwargs,
        )

    # --- calls ----------------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call the SDK; answer with plain dicts (StripeObjects are not dicts), and turn
        every failure into one of our two gateway errors."""
        try:
            return fn(*args, **kwargs).to_dict()
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(str(exc)) from exc
        except stripe.APIError as exc:
            raise GatewayUnavailable(str(exc)) from exc
        except stripe.StripeError as exc:
            # 4xx: authentication, invalid request, a state that does not allow this.
            if exc.http_status is not None and exc.http_status >= 500:
                raise GatewayUnavailable(str(exc)) from exc
            if exc.http_status == 404:
                raise GatewayNotFound(str(exc)) from exc
            raise GatewayRefused(str(exc)) from exc

    def create_checkout(self, request: CheckoutRequest, *, now: datetime) -> Checkout:
        metadata = {
            "payment_id": str(request.payment_id),
            "booking_ids": ",".join(str(i) for i in request.booking_ids),
            "capture": "manual" if request.manual_capture else "automatic",
        }
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": request.reference,
            "metadata": metadata,
            "payment_intent_data": {
                "metadata": metadata,
                "capture_method": "manual" if request.manual_capture else "automatic",
            },
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": item.amount_cents,
                        "product_data": {"name": item.name, "description": item.description},
                    },
                }
                for item in request.items
            ],
            "expires_at": _unix(request.expires_at),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "locale": request.locale,
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        session = self._call(
            self.client.v1.checkout.sessions.create,
            params=params,
            options={"idempotency_key": f"checkout-{request.idempotency_key}"},
        )
        return self._checkout(session, refunds=())

    def get_checkout(self, checkout_id: str, *, now: datetime) -> Checkout:
        session = self._call(
            self.client.v1.checkout.sessions.retrieve,
            checkout_id,
            params={"expand": ["payment_intent", "payment_intent.latest_charge"]},
        )
        intent = _field(session, "payment_intent")
        refunds: tuple[RemoteRefund, ...] = ()
        charge = _field(intent, "latest_charge") if intent is not None else None
        # Whenever money was taken, not only when the charge shows some refunded: a refund
        # that fails after Stripe accepted it is taken off ``amount_refunded`` again, and we
        # must still learn that it failed.
        if charge is not None and not isinstance(charge, str) and (
            _field(charge, "amount_captured") or _field(charge, "amount_refunded")
        ):
            listed = self._call(
                self.client.v1.refunds.list,
                params={"payment_intent": intent["id"], "limit": 100},
            )
            refunds = tuple(self._refund(r) for r in listed["data"])
        return self._checkout(session, refunds=refunds)

    def expire_checkout(self, checkout_id: str, *, now: datetime) -> Checkout:
        # Refused: no longer open (paid or expired meanwhile); what it is now tells.
        with contextlib.suppress(GatewayRefused):
            self._call(self.client.v1.checkout.sessions.expire, checkout_id)
        return self.get_checkout(checkout_id, now=now)

    def find_checkouts(self, payment_id: int, *, since: datetime) -> list[Checkout]:
        # Stripe filters sessions by creation time but not by metadata: page through the
        # recent ones (newest first) and keep ours.
        found: list[Checkout] = []
        params: dict[str, Any] = {"created": {"gte": _unix(since)}, "limit": 100}
        while True:
            page = self._call(self.client.v1.checkout.sessions.list, params=params)
            for session in page["data"]:
                if (_field(session, "metadata") or {}).get("payment_id") == str(payment_id):
                    found.append(self._checkout(session, refunds=()))
            if not page.get("has_more") or not page["data"]:
                return found
            params = {**params, "starting_after": page["data"][-1]["id"]}

    def capture(self, intent_id: str, *, amount_cents: int, idempotency_key: str) -> None:
        self._call(
            self.client.v1.payment_intents.capture,
            intent_id,
            params={"amount_to_capture": amount_cents},
            options={"idempotency_key": f"capture-{idempotency_key}"},
        )

    def cancel_authorization(self, intent_id: str, *, idempotency_key: str) -> None:
        self._call(
            self.client.v1.payment_intents.cancel,
            intent_id,
            params={"cancellation_reason": "abandoned"},
            options={"idempotency_key": f"cancel-{idempotency_key}"},
        )

    def refund(
        self, intent_id: str, *, amount_cents: int, idempotency_key: str, local_id: int
    ) -> RemoteRefund:
        refund = self._call(
            self.client.v1.refunds.create,
            params={
                "payment_intent": intent_id,
                "amount": amount_cents,
                "reason": "requested_by_customer",
                "metadata": {"refund_id": str(local_id)},
            },
            options={"idempotency_key": f"refund-{idempotency_key}"},
        )
        return self._refund(refund)

    def intent_of_charge(self, charge_id: str) -> str | None:
        charge = self._call(self.client.v1.charges.retrieve, charge_id)
        intent = _field(charge, "payment_intent")
        return intent if isinstance(intent, str) else _field(intent, "id")

    # --- shapes ---------------------------------------------------------------------------

    @staticmethod
    def _refund(refund: Any) -> RemoteRefund:
        metadata = _field(refund, "metadata") or {}
        local = str(_field(metadata, "refund_id") or "")
        return RemoteRefund(
            id=refund["id"], amount_cents=int(refund["amount"]), status=str(refund["status"]),
            local_id=int(local) if local.isdigit() else None,
        )

    def _checkout(self, session: Any, *, refunds: tuple[RemoteRefund, ...]) -> Checkout:
        metadata = {str(k): str(v) for k, v in (_field(session, "metadata") or {}).items()}
        raw_intent = _field(session, "payment_intent")
        intent = None
        manual = False
        if raw_intent is not None and not isinstance(raw_intent, str):
            manual = _field(raw_intent, "capture_method") == "manual"
            charge = _field(raw_intent, "latest_charge")
            refunded = 0
            if charge is not None and not isinstance(charge, str):
                refunded = int(_field(charge, "amount_refunded") or 0)
            intent = Intent(
                id=raw_intent["id"],
                status=IntentStatus(raw_intent["status"]),
                amount_cents=int(raw_intent["amount"]),
                received_cents=int(_field(raw_intent, "amount_received") or 0),
                refunded_cents=refunded,
                refunds=refunds,
            )
        return Checkout(
            id=session["id"],
            status=str(session["status"]),
            url=_field(session, "url"),
            expires_at=_instant(_field(session, "expires_at")),
            manual_capture=manual or metadata.get("capture") == "manual",
            intent=intent,
            metadata=metadata,
        )
