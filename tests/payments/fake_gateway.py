"""An in-memory payment gateway for tests: implements ``PaymentGateway`` and lets a test play
the remote side (the member pays, a SEPA debit fails, the gateway is down or says no).

Install it with ``app.extensions[KEY] = fake`` for requests, or pass it to service functions.
It remembers every request and call, so tests can check exactly what was sent.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schiller40.payments.gateway import (
    Checkout,
    CheckoutRequest,
    GatewayRefused,
    GatewayUnavailable,
    Intent,
    IntentStatus,
    RemoteRefund,
)

KEEP = object()  # snapshot(): keep the remote's own value


@dataclass
class Remote:
    """The gateway's own record of one checkout."""

    id: str
    request: CheckoutRequest
    status: str = "open"
    intent: IntentStatus | None = None
    received: int = 0
    refunds: list[RemoteRefund] = field(default_factory=list)
    refund_keys: dict[str, RemoteRefund] = field(default_factory=dict)

    @property
    def amount(self) -> int:
        return sum(i.amount_cents for i in self.request.items)

    @property
    def intent_id(self) -> str:
        return "pi_" + self.id.removeprefix("cs_")


class FakeGateway:
    min_checkout_lifetime = timedelta(0)

    def run_billing(self, *, now) -> int:
        """No monthly fees here: the billing job of a worker pass finds nothing to bill."""
        return 0

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.requests: list[CheckoutRequest] = []
        self.remotes: dict[str, Remote] = {}
        self._by_key: dict[str, str] = {}
        self._ids = itertools.count(1)
        # ("capture", intent id, amount, key), ("cancel", ...), ("refund", ...), ("expire", ...)
        self.calls: list[tuple] = []
        # Operation names ("create_checkout", "refund", ...) that fail until removed.
        self.down: set[str] = set()
        self.refusing: set[str] = set()
        # Checkout ids whose reads fail (the gateway is down for just these).
        self.broken: set[str] = set()
        # Snapshots to serve (once each) before the truth: a stale or reordered view.
        self.stale: list[Checkout] = []

    def _check(self, operation: str) -> None:
        if operation in self.down:
            raise GatewayUnavailable(f"{operation}: gateway down")
        if operation in self.refusing:
            raise GatewayRefused(f"{operation}: refused")

    def _remote_of_intent(self, intent_id: str) -> Remote:
        remote = self.remotes.get("cs_" + intent_id.removeprefix("pi_"))
        if remote is None:
            raise GatewayRefused(f"no such intent {intent_id}")
        return remote

    def snapshot(self, remote: Remote, *, status: str | None = None,
                 intent: IntentStatus | object | None = KEEP,
                 received: int | None = None) -> Checkout:
        """The gateway's picture of a checkout (optionally with other values: a stale one;
        ``intent=None`` is a picture from before the member paid)."""
        intent_status = remote.intent if intent is KEEP else intent
        assert intent_status is None or isinstance(intent_status, IntentStatus)
        return Checkout(
            id=remote.id,
            status=status or remote.status,
            url=f"https://pay.example/{remote.id}",
            expires_at=remote.request.expires_at,
            manual_capture=remote.request.manual_capture,
            intent=Intent(
                id=remote.intent_id, status=intent_status, amount_cents=remote.amount,
                received_cents=remote.received if received is None else received,
                refunded_cents=sum(r.amount_cents for r in remote.refunds),
                refunds=tuple(remote.refunds),
            ) if intent_status is not None else None,
            metadata={
                "payment_id": str(remote.request.payment_id),
                "booking_ids": ",".join(str(i) for i in remote.request.booking_ids),
            },
        )

    # --- the gateway interface ---------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest, *, now: datetime) -> Checkout:
        self.requests.append(request)
        self._check("create_checkout")
        if request.idempotency_key not in self._by_key:
            remote = Remote(id=f"cs_fake_{next(self._ids)}", request=request)
            self.remotes[remote.id] = remote
            self._by_key[request.idempotency_key] = remote.id
        remote = self.remotes[self._by_key[request.idempotency_key]]
        if remote.request != request:
            # As Stripe answers a key reused with other parameters (HTTP 400).
            raise GatewayRefused("idempotency key used before with other parameters")
        return self.snapshot(remote)

    def get_checkout(self, checkout_id: str, *, now: datetime) -> Checkout:
        self._check("get_checkout")
        if checkout_id in self.broken:
            raise GatewayUnavailable(f"{checkout_id}: timed out")
        remote = self.remotes.get(checkout_id)
        if remote is None:
            raise GatewayRefused(f"no such checkout {checkout_id}")
        if remote.status == "open" and remote.request.expires_at <= now:
            remote.status = "expired"
        for i, stale in enumerate(self.stale):
            if stale.id == checkout_id:
                return self.stale.pop(i)
        return self.snapshot(remote)

    def expire_checkout(self, checkout_id: str, *, now: datetime) -> Checkout:
        self.calls.append(("expire", checkout_id))
        self._check("expire_checkout")
        remote = self.remotes[checkout_id]
        if remote.status == "open":
            remote.status = "expired"
        return self.snapshot(remote)

    def find_checkouts(self, payment_id: int, *, since: datetime) -> list[Checkout]:
        self._check("find_checkouts")
        return [self.snapshot(r) for r in self.remotes.values()
                if r.request.payment_id == payment_id]

    def capture(self, intent_id: str, *, amount_cents: int, idempotency_key: str) -> None:
        self.calls.append(("capture", intent_id, amount_cents, idempotency_key))
        self._check("capture")
        remote = self._remote_of_intent(intent_id)
        if remote.intent is IntentStatus.SUCCEEDED:
            return
        if remote.intent is not IntentStatus.REQUIRES_CAPTURE or amount_cents > remote.amount:
            raise GatewayRefused("not capturable")
        remote.intent = IntentStatus.SUCCEEDED
        remote.received = amount_cents

    def cancel_authorization(self, intent_id: str, *, idempotency_key: str) -> None:
        self.calls.append(("cancel", intent_id, idempotency_key))
        self._check("cancel_authorization")
        remote = self._remote_of_intent(intent_id)
        if remote.intent is IntentStatus.REQUIRES_CAPTURE:
            remote.intent = IntentStatus.CANCELED

    def refund(
        self, intent_id: str, *, amount_cents: int, idempotency_key: str, local_id: int
    ) -> RemoteRefund:
        self.calls.append(("refund", intent_id, amount_cents, idempotency_key))
        self._check("refund")
        remote = self._remote_of_intent(intent_id)
        if idempotency_key in remote.refund_keys:
            return remote.refund_keys[idempotency_key]
        left = remote.received - sum(r.amount_cents for r in remote.refunds)
        if not 0 < amount_cents <= left:
            raise GatewayRefused("refund exceeds what is left")
        made = RemoteRefund(f"re_fake_{next(self._ids)}", amount_cents, "succeeded", local_id)
        remote.refunds.append(made)
        remote.refund_keys[idempotency_key] = made
        return made

    def intent_of_charge(self, charge_id: str) -> str | None:
        return "pi_" + charge_id.removeprefix("ch_") if charge_id.startswith("ch_") else None

    # --- the remote side, played by the test ------------------------------------------------

    def only(self) -> Remote:
        (remote,) = self.remotes.values()
        return remote

    def pay(self, checkout_id: str) -> Remote:
        """The member paid by card (even on a checkout that had just expired: a race)."""
        remote = self.remotes[checkout_id]
        remote.status = "complete"
        if remote.request.manual_capture:
            remote.intent = IntentStatus.REQUIRES_CAPTURE
        else:
            remote.intent = IntentStatus.SUCCEEDED
            remote.received = remote.amount
        return remote

    def start_debit(self, checkout_id: str) -> Remote:
        """A SEPA debit: the checkout completes, the money is on its way."""
        remote = self.remotes[checkout_id]
        remote.status = "complete"
        remote.intent = IntentStatus.PROCESSING
        return remote

    def fail_debit(self, checkout_id: str) -> Remote:
        remote = self.remotes[checkout_id]
        remote.intent = IntentStatus.REQUIRES_PAYMENT_METHOD
        return remote

    def settle_debit(self, checkout_id: str) -> Remote:
        remote = self.remotes[checkout_id]
        remote.intent = IntentStatus.SUCCEEDED
        remote.received = remote.amount
        return remote

    def made(self, kind: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == kind]
