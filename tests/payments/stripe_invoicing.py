"""Subscriptions and invoices for the fake Stripe server: the billing cycle.

:class:`InvoicingMixin` holds what happens to a subscription after Checkout created it:
renewals, invoices and their payments (cards at once, SEPA debits when they settle), failed
payments and retries, prorations, cancellation, and :meth:`InvoicingMixin.advance_billing`,
the test control that does, in time order and stamped with the time each fell due, what
Billing would have done by the clock's time. :class:`stripe_billing.BillingMixin` builds on
it (customers, prices, payment methods, Checkout); both are mixed into
:class:`stripe_server.StripeServer`, whose object store, event log and clock they use.
Shapes are those of the API version the SDK pins; see :mod:`stripe_billing`.
"""

from __future__ import annotations

import calendar
import copy
import html
import secrets
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from .stripe_wire import (
    ApiError,
    ControlError,
    Params,
    _as_list,
    _choice,
    _integer,
    _metadata,
    _reject_unknown,
    _string,
)

if TYPE_CHECKING:
    from collections.abc import Callable

DAY = 24 * 60 * 60
INCOMPLETE_EXPIRY_SECONDS = 23 * 60 * 60
SUBSCRIPTION_STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due",
                         "canceled", "unpaid", "paused")
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")
AFTER_FINAL_FAILURE = ("unpaid", "canceled", "past_due")
DECLINE_MESSAGES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}


def add_interval(ts: int, interval: str, count: int, anchor: int) -> int:
    """``ts`` plus ``count`` intervals, keeping the anchor's day of month and time of day
    (UTC) and clamping to the month's last day, as Stripe bills an anchor on the 31st on the
    30th, 28th or 29th of shorter months."""
    if interval == "day":
        return ts + count * DAY
    if interval == "week":
        return ts + count * 7 * DAY
    start = datetime.fromtimestamp(ts, UTC)
    anchor_dt = datetime.fromtimestamp(anchor, UTC)
    months = count * (12 if interval == "year" else 1)
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    day = min(anchor_dt.day, calendar.monthrange(year, month + 1)[1])
    result = anchor_dt.replace(year=year, month=month + 1, day=day)
    return int(result.timestamp())


def prorate(amount: int, remaining: int, period: int) -> int:
    """``amount`` * ``remaining``/``period`` seconds, rounded half away from zero to a cent.

    Stripe prorates to the second; the rounding of the last cent is our approximation."""
    exact = Fraction(amount * remaining, period)
    sign = -1 if exact < 0 else 1
    whole, rest = divmod(abs(exact), 1)
    return sign * (int(whole) + (1 if rest >= Fraction(1, 2) else 0))


def _list_body(url: str, items: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": has_more, "data": items}


def _boolean(value: Any, param: str) -> bool:
    if value not in ("true", "false"):
        raise ApiError(400, f"Invalid boolean: {value!r}", param=param)
    return value == "true"


def _merge_metadata(current: dict[str, str], value: Any, param: str) -> dict[str, str]:
    """Stripe's update semantics: keys are merged, a key set to "" is removed, and
    ``metadata=""`` removes them all."""
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"Invalid object: {param}", param=param)
    merged = dict(current)
    for key, item in value.items():
        if item == "":
            merged.pop(key, None)
        else:
            merged[key] = item
    return _metadata(merged, param)


class InvoicingMixin:
    """The billing cycle's endpoints, test controls and scheduling; see the module docstring."""

    # provided by StripeServer
    _objects: dict[str, dict[str, dict[str, Any]]]
    _lock: Any
    clock: Callable[[], datetime]
    base_url: str

    if TYPE_CHECKING:
        def _create(self, prefix: str, object_name: str,
                    fields: dict[str, Any]) -> dict[str, Any]: ...
        def _get(self, prefix: str, object_id: str, *,
                 control: bool = False) -> dict[str, Any]: ...
        def _get_session(self, session_id: str, *, control: bool = False) -> dict[str, Any]: ...
        def _record(self, type_: str, obj: dict[str, Any],
                    previous: dict[str, Any] | None = None) -> None: ...
        def _succeed(self, pi: dict[str, Any], charge: dict[str, Any],
                     amount: int | None = None) -> None: ...
        @staticmethod
        def _public(obj: dict[str, Any]) -> dict[str, Any]: ...
        def _now(self) -> int: ...
        @property
        def events(self) -> list[dict[str, Any]]: ...

    # test controls ----------------------------------------------------------------------------

    def decline(self, target: str, code: str = "card_declined", *,
                times: int | None = None) -> None:
        """Make charges to a payment method (``pm_…``) or to any of a customer's (``cus_…``)
        fail with ``code``: ``times`` charges, or until :meth:`stop_declining`. A card fails
        at once; a SEPA debit goes ``processing`` first and fails when it settles."""
        with self._lock:
            self._declines[target] = {"code": code, "times": times}

    def stop_declining(self, target: str) -> None:
        with self._lock:
            self._declines.pop(target, None)

    def advance_billing(self) -> list[dict[str, Any]]:
        """Do everything Billing would have done by now (the clock's time), in time order:
        renewals at period ends, retries of failed invoices, scheduled cancellations, expiry of
        incomplete subscriptions and, with :attr:`sepa_settlement_days`, SEPA settlements.
        Returns the events this produced."""
        with self._lock:
            before = len(self._events_list())
            for _ in range(10_000):
                due = self._next_due()
                if due is None:
                    break
                when, action, obj = due
                self._at = when
                try:
                    action(obj)
                finally:
                    self._at = None
            else:  # pragma: no cover - a scheduling bug, not a test failure to hide
                raise ControlError("advance_billing did not settle")
            return self._public_events(before)

    def customer(self, customer_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._get("cus", customer_id, control=True))

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._get("sub", subscription_id, control=True))

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._get("in", invoice_id, control=True))

    def mandate(self, mandate_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._get("mandate", mandate_id, control=True))

    def _events_list(self) -> list[dict[str, Any]]:
        return self._events  # type: ignore[attr-defined]

    def _public_events(self, start: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self._events_list()[start:])

    # scheduling ---------------------------------------------------------------------------------

    def _next_due(self) -> tuple[int, Callable[[dict[str, Any]], None], dict[str, Any]] | None:
        now = int(self.clock().timestamp())
        candidates: list[tuple[int, int, Callable[[dict[str, Any]], None], dict[str, Any]]] = []
        for order, sub in enumerate(self._objects["sub"].values()):
            status = sub["status"]
            if status in ("active", "past_due", "unpaid", "trialing"):
                end = self._period(sub)[1]
                if sub["cancel_at"] is not None and sub["cancel_at"] <= end:
                    candidates.append((sub["cancel_at"], order, self._cancel_scheduled, sub))
                else:
                    candidates.append((end, order, self._renew, sub))
            elif status == "incomplete" and not self._processing(sub["latest_invoice"]):
                expires = max(sub["created"] + INCOMPLETE_EXPIRY_SECONDS,
                              sub.get("_failed_at", 0))
                candidates.append((expires, order, self._expire_incomplete, sub))
        for order, inv in enumerate(self._objects["in"].values()):
            if inv["status"] == "open" and inv["next_payment_attempt"] is not None:
                candidates.append((inv["next_payment_attempt"], order, self._retry, inv))
        if self.sepa_settlement_days is not None:
            for order, pi in enumerate(self._objects["pi"].values()):
                if pi["status"] == "processing" and pi.get("_invoice"):
                    candidates.append((pi["created"] + self.sepa_settlement_days * DAY, order,
                                       self._settle_due, pi))
        due = [c for c in candidates if c[0] <= now]
        if not due:
            return None
        when, _, action, obj = min(due, key=lambda c: (c[0], c[1]))
        return when, action, obj

    def _processing(self, invoice_id: str | None) -> bool:
        if invoice_id is None:
            return False
        return any(self._objects["pi"][p["payment"]["payment_intent"]]["status"] == "processing"
                   for p in self._payments_of(invoice_id))

    def _settle_due(self, pi: dict[str, Any]) -> None:
        self._settle_invoice_payment(pi, None)

    # lists ----------------------------------------------------------------------------------------

    def _page(self, objects: list[dict[str, Any]], params: Params, url: str,
              name: str) -> dict[str, Any]:
        """Newest first, filtered by ``created`` (gt/gte/lt/lte/eq), paged with ``limit`` and
        ``starting_after`` as Stripe pages."""
        limit = _integer(params.get("limit", "10"), "limit", minimum=1)
        if limit > 100:
            raise ApiError(400, "limit must be at most 100", param="limit")
        created = params.get("created", {})
        if not isinstance(created, dict):
            created = {"eq": created}
        _reject_unknown(created, ("gt", "gte", "lt", "lte", "eq"), "created")
        bounds = {op: _integer(v, f"created[{op}]") for op, v in created.items()}
        tests = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__,
                 "eq": int.__eq__}
        chosen = [o for o in reversed(objects)
                  if all(tests[op](o["created"], v) for op, v in bounds.items())]
        after = params.get("starting_after")
        if after is not None:
            ids = [o["id"] for o in chosen]
            if after not in ids:
                raise ApiError(400, f"No such {name}: '{after}'", param="starting_after",
                               code="resource_missing")
            chosen = chosen[ids.index(after) + 1:]
        return _list_body(url, [self._public(o) for o in chosen[:limit]], len(chosen) > limit)

    # subscriptions --------------------------------------------------------------------------------

    def _new_subscription(self, customer: dict[str, Any], line_items: list[dict[str, Any]],
                          pm: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        line_items = [i for i in line_items if i["_price"]["recurring"] is not None]
        recurring = line_items[0]["_price"]["recurring"]
        anchor = data["anchor"] or now
        end = anchor if data["anchor"] else add_interval(now, recurring["interval"],
                                                         recurring["interval_count"], anchor)
        sub = self._create("sub", "subscription", {
            "status": "incomplete", "customer": customer["id"], "currency": "eur",
            "billing_cycle_anchor": anchor, "billing_cycle_anchor_config": None,
            "billing_mode": {"type": "flexible", "flexible": None},
            "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "days_until_due": None,
            "default_payment_method": pm["id"], "default_source": None,
            "default_tax_rates": [], "description": data.get("description"), "discounts": [],
            "ended_at": None, "latest_invoice": None, "metadata": dict(data["metadata"]),
            "automatic_tax": {"enabled": False, "disabled_reason": None, "liability": None},
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "next_pending_invoice_item_invoice": None, "on_behalf_of": None,
            "pause_collection": None, "pending_invoice_item_interval": None,
            "pending_setup_intent": None, "pending_update": None, "schedule": None,
            "payment_settings": {"payment_method_options": None,
                                 "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "start_date": now, "test_clock": None, "transfer_data": None,
            "trial_end": None, "trial_settings": {"end_behavior": {
                "missing_payment_method": "create_invoice"}}, "trial_start": None,
            "_pending": [],
        })
        sub["items"] = _list_body(f"/v1/subscription_items?subscription={sub['id']}", [])
        for item in line_items:
            sub["items"]["data"].append(self._new_item(sub, item["_price"], item["quantity"],
                                                       now, end))
        sub["items"]["total_count"] = len(sub["items"]["data"])
        self._record("customer.subscription.created", sub)
        return sub

    def _new_item(self, sub: dict[str, Any], price: dict[str, Any], quantity: int,
                  start: int, end: int) -> dict[str, Any]:
        item = self._create("si", "subscription_item", {
            "subscription": sub["id"], "price": self._public(price), "quantity": quantity,
            "current_period_start": start, "current_period_end": end, "metadata": {},
            "billing_thresholds": None, "discounts": [], "tax_rates": [],
        })
        del self._objects["si"][item["id"]]  # lives inside its subscription
        return item

    @staticmethod
    def _period(sub: dict[str, Any]) -> tuple[int, int]:
        item = sub["items"]["data"][0]
        return item["current_period_start"], item["current_period_end"]

    def _set_period(self, sub: dict[str, Any], start: int, end: int) -> None:
        for item in sub["items"]["data"]:
            item.update(current_period_start=start, current_period_end=end)

    def _set_status(self, sub: dict[str, Any], status: str, **changes: Any) -> None:
        if sub["status"] == status and not changes:
            return
        before = self._public(sub)
        sub.update(status=status, **changes)
        event = "customer.subscription.deleted" if status == "canceled" else (
            "customer.subscription.updated")
        self._record_updated(event, sub, before)

    def _api_retrieve_subscription(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("sub", id))

    def _api_list_subscriptions(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("customer", "price", "status", "created", "limit",
                                 "starting_after", "expand"))
        status = params.get("status")
        if status is not None:
            _choice(status, (*SUBSCRIPTION_STATUSES, "all", "ended"), "status")
        subs = [s for s in self._objects["sub"].values()
                if params.get("customer", s["customer"]) == s["customer"]
                and ("price" not in params
                     or any(i["price"]["id"] == params["price"] for i in s["items"]["data"]))
                and (s["status"] == status if status not in (None, "all", "ended")
                     else status == "all" or (s["status"] in ("canceled", "incomplete_expired"))
                     == (status == "ended"))]
        return 200, self._page(subs, params, "/v1/subscriptions", "subscription")

    def _api_update_subscription(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("items", "proration_behavior", "proration_date",
                                 "cancel_at_period_end", "cancel_at", "metadata",
                                 "billing_cycle_anchor", "default_payment_method",
                                 "payment_behavior", "cancellation_details", "description",
                                 "expand"))
        sub = self._get("sub", id)
        ended = sub["status"] in ("canceled", "incomplete_expired")
        extra = sorted(set(params) - {"metadata", "cancellation_details", "expand"})
        if ended and extra:
            raise ApiError(400, "A canceled subscription can only update its "
                           "cancellation_details and metadata.", param=extra[0])
        if params.get("billing_cycle_anchor", "unchanged") != "unchanged":
            raise ApiError(400, "This server only supports billing_cycle_anchor=unchanged.",
                           param="billing_cycle_anchor")
        if "payment_behavior" in params:
            _choice(params["payment_behavior"], ("allow_incomplete", "error_if_incomplete",
                                                 "pending_if_incomplete",
                                                 "default_incomplete"), "payment_behavior")
        behavior = _choice(params.get("proration_behavior", "create_prorations"),
                           PRORATION_BEHAVIORS, "proration_behavior")
        before = self._public(sub)
        start, end = self._period(sub)
        now = self._now()
        when = now
        if "proration_date" in params:
            when = _integer(params["proration_date"], "proration_date")
            if not start <= when <= end:
                raise ApiError(400, "proration_date must be within the current period.",
                               param="proration_date")
        lines: list[dict[str, Any]] = []
        if "items" in params:
            lines = self._change_items(sub, _as_list(params["items"], "items"), when, behavior)
        if "default_payment_method" in params:
            pm_id = params["default_payment_method"] or None
            if pm_id is not None:
                self._attached_pm(pm_id, sub["customer"], "default_payment_method")
            sub["default_payment_method"] = pm_id
        if "cancel_at_period_end" in params:
            at_end = _boolean(params["cancel_at_period_end"], "cancel_at_period_end")
            sub.update(cancel_at_period_end=at_end, cancel_at=end if at_end else None)
        if "cancel_at" in params:
            if params["cancel_at"] == "":
                sub.update(cancel_at=None, cancel_at_period_end=False)
            else:
                cancel_at = _integer(params["cancel_at"], "cancel_at")
                if cancel_at <= now:
                    raise ApiError(400, "cancel_at must be in the future.", param="cancel_at")
                sub.update(cancel_at=cancel_at, cancel_at_period_end=cancel_at == end)
        if before["cancel_at"] != sub["cancel_at"]:  # a cancellation requested or withdrawn
            requested = sub["cancel_at"] is not None
            sub["canceled_at"] = now if requested else None
            sub["cancellation_details"]["reason"] = ("cancellation_requested" if requested
                                                     else None)
        self._apply_cancellation_details(sub, params)
        if "metadata" in params:
            sub["metadata"] = _merge_metadata(sub["metadata"], params["metadata"], "metadata")
        if "description" in params:
            sub["description"] = params["description"] or None
        self._record_updated("customer.subscription.updated", sub, before)
        if behavior == "always_invoice" and (lines or sub["_pending"]):
            inv = self._invoice_for(sub, "subscription_update", lines)
            self._finalize_and_charge(inv, self._default_pm(sub))
        elif behavior == "create_prorations":
            sub["_pending"].extend(lines)
        return 200, self._public(sub)

    @staticmethod
    def _apply_cancellation_details(sub: dict[str, Any], params: Params) -> None:
        details = params.get("cancellation_details")
        if details is None:
            return
        if not isinstance(details, dict):
            raise ApiError(400, "Invalid object", param="cancellation_details")
        _reject_unknown(details, ("comment", "feedback"), "cancellation_details")
        if "feedback" in details:
            _choice(details["feedback"], ("customer_service", "low_quality", "missing_features",
                                          "other", "switched_service", "too_complex",
                                          "too_expensive", "unused", ""),
                    "cancellation_details[feedback]")
        for key in ("comment", "feedback"):
            if key in details:
                sub["cancellation_details"][key] = details[key] or None

    def _change_items(self, sub: dict[str, Any], changes: list[Any], when: int,
                      behavior: str) -> list[dict[str, Any]]:
        """Apply ``items`` changes; returns the proration lines (credit for the old price's
        unused time, charge for the new one's remaining time) unless proration is off."""
        start, end = self._period(sub)
        lines: list[dict[str, Any]] = []
        items = sub["items"]["data"]
        for i, change in enumerate(changes):
            param = f"items[{i}]"
            if not isinstance(change, dict):
                raise ApiError(400, "Invalid object", param=param)
            _reject_unknown(change, ("id", "price", "quantity", "deleted"), param)
            item = None
            if "id" in change:
                item = next((it for it in items if it["id"] == change["id"]), None)
                if item is None:
                    raise ApiError(400, f"No such subscription item: '{change['id']}'",
                                   param=f"{param}[id]", code="resource_missing")
            old = (item["price"], item["quantity"]) if item else None
            if change.get("deleted") == "true":
                if item is None:
                    raise ApiError(400, "Deleting an item needs its id.", param=f"{param}[id]")
                items.remove(item)
                new = None
            else:
                price = old[0] if old else None
                if "price" in change:
                    price = self._public(self._get("price", change["price"]))
                    if not price["active"]:
                        raise ApiError(400, f"The price specified is inactive: {price['id']}",
                                       param=f"{param}[price]")
                    if price["recurring"] != items[0]["price"]["recurring"] and (
                        price["recurring"] is None
                        or (price["recurring"]["interval"], price["recurring"]["interval_count"])
                        != (items[0]["price"]["recurring"]["interval"],
                            items[0]["price"]["recurring"]["interval_count"])
                    ):
                        raise ApiError(400, "This server does not model changing a "
                                       "subscription's billing interval.",
                                       param=f"{param}[price]")
                if price is None:
                    raise ApiError(400, f"Missing required param: {param}[price].",
                                   param=f"{param}[price]", code="parameter_missing")
                quantity = _integer(change.get("quantity", str(old[1]) if old else "1"),
                                    f"{param}[quantity]", minimum=1)
                if item is None:
                    item = self._new_item(sub, price, quantity, start, end)
                    items.append(item)
                item.update(price=price, quantity=quantity)
                new = (price, quantity)
            if behavior != "none" and old != new:
                if old is not None:
                    lines.append(self._proration_line(sub, old, when, start, end, credit=True))
                if new is not None:
                    lines.append(self._proration_line(sub, new, when, start, end, credit=False,
                                                      item_id=item["id"]))
        sub["items"]["total_count"] = len(items)
        if not items:
            raise ApiError(400, "A subscription needs at least one item.", param="items")
        return lines

    def _proration_line(self, sub: dict[str, Any], what: tuple[dict[str, Any], int], when: int,
                        start: int, end: int, *, credit: bool,
                        item_id: str | None = None) -> dict[str, Any]:
        price, quantity = what
        amount = prorate(price["unit_amount"] * quantity, end - when, end - start)
        stamp = datetime.fromtimestamp(when, UTC).strftime("%d %b %Y")
        product = self._objects["prod"][price["product"]]["name"]
        text = "Unused time on" if credit else "Remaining time on"
        return {"amount": -amount if credit else amount, "price": price, "quantity": quantity,
                "proration": True, "period": (when, end), "item": item_id,
                "description": f"{text} {quantity} × {product} after {stamp}"}

    def _api_cancel_subscription(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("invoice_now", "prorate", "cancellation_details", "expand"))
        sub = self._get("sub", id)
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise ApiError(400, f"No such subscription: '{id}'", param="id",
                           code="resource_missing")
        self._apply_cancellation_details(sub, params)
        self._cancel(sub, "cancellation_requested")
        return 200, self._public(sub)

    def _cancel(self, sub: dict[str, Any], reason: str) -> None:
        """End the subscription now; its open invoices are no longer retried."""
        now = self._now()
        for inv in self._objects["in"].values():
            if self._subscription_of(inv) == sub["id"] and inv["status"] == "open":
                inv["next_payment_attempt"] = None
        details = {**sub["cancellation_details"], "reason": reason}
        sub["_pending"] = []
        self._set_status(sub, "canceled", canceled_at=sub["canceled_at"] or now, ended_at=now,
                         cancellation_details=details)

    def _cancel_scheduled(self, sub: dict[str, Any]) -> None:
        self._cancel(sub, "cancellation_requested")

    def _expire_incomplete(self, sub: dict[str, Any]) -> None:
        inv = self._objects["in"][sub["latest_invoice"]]
        if inv["status"] == "open":
            before = self._public(inv)
            inv.update(status="void", next_payment_attempt=None, amount_remaining=0)
            inv["status_transitions"]["voided_at"] = self._now()
            self._record_updated("invoice.voided", inv, before)
        # Stripe sends this as customer.subscription.updated, with canceled_at set
        self._set_status(sub, "incomplete_expired", ended_at=self._now(),
                         canceled_at=self._now())

    def _renew(self, sub: dict[str, Any]) -> None:
        """The period ended: the next one starts and is invoiced (draft only while unpaid)."""
        start, end = self._period(sub)
        recurring = sub["items"]["data"][0]["price"]["recurring"]
        before = self._public(sub)
        self._set_period(sub, end, add_interval(end, recurring["interval"],
                                                recurring["interval_count"],
                                                sub["billing_cycle_anchor"]))
        self._record_updated("customer.subscription.updated", sub, before)
        inv = self._invoice_for(sub, "subscription_cycle", self._cycle_lines(sub),
                                invoice_period=(start, end))
        if sub["status"] == "unpaid":  # Stripe leaves them as drafts, never attempted
            inv["auto_advance"] = False
            return
        self._finalize_and_charge(inv, self._default_pm(sub))

    def _default_pm(self, sub: dict[str, Any]) -> str | None:
        customer = self._objects["cus"][sub["customer"]]
        return (sub["default_payment_method"]
                or customer["invoice_settings"]["default_payment_method"])

    def _attached_pm(self, pm_id: Any, customer_id: str, param: str) -> dict[str, Any]:
        pm = self._objects["pm"].get(_string(pm_id, param))
        if pm is None:
            raise ApiError(400, f"No such PaymentMethod: '{pm_id}'", param=param,
                           code="resource_missing")
        if pm["customer"] != customer_id:  # also a detached one
            raise ApiError(400, f"The PaymentMethod {pm_id} does not belong to the Customer "
                           f"{customer_id}. Please attach it first.", param=param)
        return pm

    # invoices ---------------------------------------------------------------------------------------

    def _first_lines(self, sub: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
        start, end = self._period(sub)
        lines = []
        for item in sub["items"]["data"]:
            price, quantity = item["price"], item["quantity"]
            product = self._objects["prod"][price["product"]]["name"]
            full = price["unit_amount"] * quantity
            if data["anchor"] is None:
                amount, proration = full, False
                description = f"{quantity} × {product} (at €{price['unit_amount'] / 100:.2f} / "
                description += f"{price['recurring']['interval']})"
            else:
                [amount] = self._first_lines_total(
                    [{"unit_amount": price["unit_amount"], "quantity": quantity,
                      "_price": price}], start, data["anchor"], data["proration"])
                proration = data["proration"] != "none"
                stamp = datetime.fromtimestamp(start, UTC).strftime("%d %b %Y")
                description = f"Remaining time on {quantity} × {product} after {stamp}"
            lines.append({"amount": amount, "price": price, "quantity": quantity,
                          "proration": proration, "period": (start, end), "item": item["id"],
                          "description": description})
        return lines

    def _cycle_lines(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        start, end = self._period(sub)
        lines = []
        for item in sub["items"]["data"]:
            price, quantity = item["price"], item["quantity"]
            product = self._objects["prod"][price["product"]]["name"]
            lines.append({"amount": price["unit_amount"] * quantity, "price": price,
                          "quantity": quantity, "proration": False, "period": (start, end),
                          "item": item["id"],
                          "description": f"{quantity} × {product} (at "
                                         f"€{price['unit_amount'] / 100:.2f} / "
                                         f"{price['recurring']['interval']})"})
        return lines

    def _invoice_for(self, sub: dict[str, Any], reason: str, lines: list[dict[str, Any]],
                     invoice_period: tuple[int, int] | None = None) -> dict[str, Any]:
        """A draft invoice of ``lines`` plus the subscription's pending prorations.

        Like Stripe, a renewal invoice's own ``period_start``/``period_end`` are the period
        that just *ended* (when its pending items accrued); the service period is on the
        lines. Other invoices have both set to their creation time."""
        now = self._now()
        customer = self._objects["cus"][sub["customer"]]
        lines = [*sub["_pending"], *lines]
        sub["_pending"] = []
        total = sum(line["amount"] for line in lines)
        start, end = invoice_period or (now, now)
        inv = self._create("in", "invoice", {
            "account_country": "DE", "account_name": "Schiller 40 (fake Stripe)",
            "amount_due": total, "amount_overpaid": 0, "amount_paid": 0,
            "amount_paid_off_stripe": 0, "amount_remaining": total, "amount_shipping": 0,
            "application": None, "attempt_count": 0, "attempted": False, "auto_advance": True,
            "automatic_tax": {"enabled": False, "disabled_reason": None, "liability": None,
                              "provider": None, "status": None},
            "automatically_finalizes_at": None, "billing_reason": reason,
            "collection_method": "charge_automatically", "currency": "eur",
            "customer": customer["id"], "customer_email": customer["email"],
            "customer_name": customer["name"], "customer_address": None, "customer_phone": None,
            "customer_shipping": None, "customer_tax_exempt": "none", "customer_tax_ids": [],
            "default_payment_method": None, "default_source": None, "default_tax_rates": [],
            "description": None, "discounts": [], "due_date": None, "effective_at": None,
            "ending_balance": None, "footer": None, "from_invoice": None,
            "hosted_invoice_url": None, "invoice_pdf": None,
            "issuer": {"type": "self"}, "last_finalization_error": None,
            "latest_revision": None, "metadata": {}, "next_payment_attempt": None,
            "number": None, "on_behalf_of": None,
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": dict(sub["metadata"]),
                                                "subscription": sub["id"]}},
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "period_start": start, "period_end": end,
            "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
            "receipt_number": None, "rendering": None, "shipping_cost": None,
            "shipping_details": None, "starting_balance": 0, "statement_descriptor": None,
            "status": "draft",
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                                   "paid_at": None, "voided_at": None},
            "subtotal": total, "subtotal_excluding_tax": total, "test_clock": None,
            "total": total, "total_discount_amounts": [], "total_excluding_tax": total,
            "total_pretax_credit_amounts": [], "total_taxes": [],
            "webhooks_delivered_at": None, "_payments": [],
        })
        inv["lines"] = _list_body(f"/v1/invoices/{inv['id']}/lines",
                                  [self._invoice_line(inv, sub, line) for line in lines])
        inv["lines"]["total_count"] = len(lines)
        sub["latest_invoice"] = inv["id"]
        self._record("invoice.created", inv)
        return inv

    def _invoice_line(self, inv: dict[str, Any], sub: dict[str, Any],
                      line: dict[str, Any]) -> dict[str, Any]:
        price = line["price"]
        parent: dict[str, Any] = {
            "type": "subscription_item_details", "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None, "proration": line["proration"],
                "proration_details": {"credited_items": None},
                "subscription": sub["id"], "subscription_item": line["item"]}}
        if line.get("one_time"):  # Stripe bills one-time prices as invoice items
            parent = {"type": "invoice_item_details", "subscription_item_details": None,
                      "invoice_item_details": {
                          "invoice_item": f"ii_test_{secrets.token_hex(12)}",
                          "proration": False, "proration_details": {"credited_items": None},
                          "subscription": sub["id"]}}
        return {"id": f"il_test_{secrets.token_hex(12)}", "object": "line_item",
                "amount": line["amount"], "currency": "eur",
                "description": line["description"], "discountable": True, "discounts": [],
                "invoice": inv["id"], "livemode": False, "metadata": {},
                "parent": parent,
                "period": {"start": line["period"][0], "end": line["period"][1]},
                "pretax_credit_amounts": [],
                "pricing": {"type": "price_details",
                            "price_details": {"price": price["id"],
                                              "product": price["product"]},
                            "unit_amount_decimal": str(price["unit_amount"])},
                "quantity": line["quantity"], "subtotal": line["amount"], "taxes": []}

    def _finalize_and_charge(self, inv: dict[str, Any], pm_id: str | None) -> None:
        """Finalize (number, customer balance applied) and try to collect at once."""
        customer = self._objects["cus"][inv["customer"]]
        balance = customer["balance"]
        due = inv["total"] + balance
        inv.update(status="open", starting_balance=balance, ending_balance=min(0, due),
                   amount_due=max(0, due), amount_remaining=max(0, due),
                   effective_at=self._now(),
                   number=f"{customer['invoice_prefix']}-"
                          f"{customer['next_invoice_sequence']:04d}",
                   hosted_invoice_url=f"{self.base_url}/i/{inv['id']}")
        customer["next_invoice_sequence"] += 1
        if balance != min(0, due):
            customer["balance"] = min(0, due)
        inv["status_transitions"]["finalized_at"] = self._now()
        self._record("invoice.finalized", inv)
        if inv["amount_due"] == 0:
            self._invoice_paid(inv)
            return
        self._attempt(inv, pm_id, automatic=True)

    def _attempt(self, inv: dict[str, Any], pm_id: str | None, *, automatic: bool) -> str:
        """One payment attempt; returns the decline code, or "" when it did not fail (yet)."""
        inv["attempt_count"] += 1
        inv["attempted"] = True
        if pm_id is None:
            self._invoice_failed(inv, automatic=automatic)
            return "payment_method_missing"
        pm = self._objects["pm"][pm_id]
        decline = "payment_method_detached" if pm["customer"] is None else (
            self._take_decline(pm))
        kind = pm["type"]
        pi = self._create("pi", "payment_intent", {
            "amount": inv["amount_remaining"], "amount_received": 0, "amount_capturable": 0,
            "currency": "eur", "capture_method": "automatic", "customer": inv["customer"],
            "description": {"subscription_create": "Subscription creation",
                            "subscription_cycle": "Subscription cycle",
                            "subscription_update": "Subscription update"}[inv["billing_reason"]],
            "metadata": {}, "latest_charge": None, "cancellation_reason": None,
            "last_payment_error": None, "payment_method": pm_id,
            "payment_method_types": [kind], "setup_future_usage": None,
            "status": "processing", "_async": kind == "sepa_debit", "_invoice": inv["id"],
            "_will_fail": decline,
        })
        method_details: dict[str, Any] = {"type": kind}
        if kind == "card":
            method_details["card"] = {"brand": "visa", "last4": pm["card"]["last4"],
                                      "exp_month": pm["card"]["exp_month"],
                                      "exp_year": pm["card"]["exp_year"], "country": "DE"}
        else:
            method_details["sepa_debit"] = {"bank_code": "37040044", "branch_code": "",
                                            "country": "DE", "last4": "3000",
                                            "fingerprint": pm["sepa_debit"]["fingerprint"],
                                            "mandate": pm.get("_mandate")}
        charge = self._create("ch", "charge", {
            "amount": pi["amount"], "amount_captured": 0, "amount_refunded": 0,
            "refunded": False, "captured": False, "paid": False, "status": "pending",
            "currency": "eur", "payment_intent": pi["id"], "customer": inv["customer"],
            "payment_method": pm_id, "payment_method_details": method_details,
            "failure_code": None, "failure_message": None,
        })
        pi["latest_charge"] = charge["id"]
        payment = self._create("inpay", "invoice_payment", {
            "amount_paid": None, "amount_requested": pi["amount"], "currency": "eur",
            "invoice": inv["id"], "is_default": True, "status": "open",
            "payment": {"type": "payment_intent", "payment_intent": pi["id"]},
            "status_transitions": {"canceled_at": None, "paid_at": None},
        })
        for other in self._payments_of(inv["id"]):
            other["is_default"] = False
        inv["_payments"].append(payment["id"])
        payment["is_default"] = True
        if kind == "sepa_debit":
            inv["next_payment_attempt"] = None
            self._record("payment_intent.processing", pi)
            return ""
        self._settle_invoice_payment(pi, decline is None)
        return decline or ""

    def _take_decline(self, pm: dict[str, Any]) -> str | None:
        for target in (pm["id"], pm["customer"]):
            rule = self._declines.get(target)
            if rule is None:
                continue
            if rule["times"] is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    del self._declines[target]
            return rule["code"]
        return None

    def _settle_invoice_payment(self, pi: dict[str, Any], succeeded: bool | None) -> None:
        """A billing PaymentIntent's outcome (at once for cards, at settlement for SEPA)."""
        if succeeded is None:
            succeeded = pi["_will_fail"] is None
        inv = self._objects["in"][pi["_invoice"]]
        charge = self._objects["ch"][pi["latest_charge"]]
        payment = next(p for p in self._payments_of(inv["id"])
                       if p["payment"]["payment_intent"] == pi["id"])
        if succeeded:
            self._succeed(pi, charge)
            payment.update(status="paid", amount_paid=pi["amount"])
            payment["status_transitions"]["paid_at"] = self._now()
            self._invoice_paid(inv)
            return
        code = pi["_will_fail"] or "card_declined"
        sepa = pi["_async"]
        message = ("The customer's bank account could not be debited." if sepa
                   else DECLINE_MESSAGES.get(code, "Your card was declined."))
        pi.update(status="requires_payment_method", last_payment_error={
            "type": "invalid_request_error" if sepa else "card_error",
            "code": "payment_intent_payment_attempt_failed" if sepa else "card_declined",
            "decline_code": code, "message": message,
            "payment_method": self._public(self._objects["pm"][pi["payment_method"]])})
        charge.update(status="failed", failure_code=code, failure_message=message)
        self._record("charge.failed", charge)
        self._record("payment_intent.payment_failed", pi)
        payment.update(status="canceled")
        payment["status_transitions"]["canceled_at"] = self._now()
        self._invoice_failed(inv, automatic=not pi.get("_manual"))

    def _payments_of(self, invoice_id: str) -> list[dict[str, Any]]:
        inv = self._objects["in"][invoice_id]
        return [self._objects["inpay"][p] for p in inv["_payments"]]

    @staticmethod
    def _subscription_of(inv: dict[str, Any]) -> str:
        return inv["parent"]["subscription_details"]["subscription"]

    def _invoice_paid(self, inv: dict[str, Any]) -> None:
        inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0,
                   next_payment_attempt=None)
        inv["status_transitions"]["paid_at"] = self._now()
        self._record("invoice.paid", inv)
        self._record("invoice.payment_succeeded", inv)
        sub = self._objects["sub"][self._subscription_of(inv)]
        owing = any(other["status"] == "open" and other["attempted"]
                    and self._subscription_of(other) == sub["id"]
                    for other in self._objects["in"].values())
        if sub["status"] in ("incomplete", "past_due", "unpaid") and not owing:
            self._set_status(sub, "active")
        session = self._session_of(inv)
        if session is not None and session.pop("_awaiting_payment", False):
            session["payment_status"] = "paid"
            self._record("checkout.session.async_payment_succeeded", session)

    def _invoice_failed(self, inv: dict[str, Any], *, automatic: bool) -> None:
        """After a failed attempt: the next retry (Smart-Retries stand-in: ``retry_days``
        after each automatic attempt), or after the last one the final subscription state."""
        sub = self._objects["sub"][self._subscription_of(inv)]
        first = inv["billing_reason"] == "subscription_create" and sub["status"] == "incomplete"
        retries = len(self.retry_days)
        final = False
        if sub["status"] in ("canceled", "incomplete_expired") or first:
            inv["next_payment_attempt"] = None
            sub["_failed_at"] = self._now()
        elif automatic:
            index = inv["attempt_count"] - 1
            final = index >= retries
            inv["next_payment_attempt"] = (None if final
                                           else self._now() + self.retry_days[index] * DAY)
        self._record("invoice.payment_failed", inv)
        session = self._session_of(inv)
        if session is not None and session.pop("_awaiting_payment", False):
            self._record("checkout.session.async_payment_failed", session)
        if sub["status"] == "active":
            self._set_status(sub, "past_due")
        if final and sub["status"] == "past_due":
            if self.after_final_failure not in AFTER_FINAL_FAILURE:
                raise ControlError(f"after_final_failure must be one of {AFTER_FINAL_FAILURE}")
            if self.after_final_failure == "canceled":
                self._cancel(sub, "payment_failed")
            elif self.after_final_failure == "unpaid":
                self._set_status(sub, "unpaid")

    def _session_of(self, inv: dict[str, Any]) -> dict[str, Any] | None:
        return next((s for s in self._objects["cs"].values() if s.get("invoice") == inv["id"]),
                    None)

    def _retry(self, inv: dict[str, Any]) -> None:
        inv["next_payment_attempt"] = None
        sub = self._objects["sub"][self._subscription_of(inv)]
        self._attempt(inv, self._default_pm(sub), automatic=True)

    def _api_pay_invoice(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("payment_method", "off_session", "paid_out_of_band",
                                 "forgive", "mandate", "source", "expand"))
        inv = self._get("in", id)
        if inv["status"] == "paid":
            raise ApiError(400, "Invoice is already paid", code="invoice_already_paid")
        if inv["status"] != "open":
            raise ApiError(400, f"You can only pay an open invoice (this one is "
                           f"{inv['status']}).", code="invoice_not_editable")
        if self._processing(inv["id"]):
            raise ApiError(400, "This invoice has a payment processing.",
                           code="invoice_payment_intent_requires_action")
        sub = self._objects["sub"][self._subscription_of(inv)]
        if params.get("paid_out_of_band") == "true":
            self._invoice_paid(inv)
            return 200, self._public(inv)
        pm_id = params.get("payment_method")
        if pm_id is not None:
            self._attached_pm(pm_id, inv["customer"], "payment_method")
        else:
            pm_id = self._default_pm(sub)
        if pm_id is None:
            raise ApiError(400, "There is no `default_payment_method` set on this Customer "
                           "or Invoice.", code="invoice_no_payment_method_types")
        next_attempt = inv["next_payment_attempt"]
        code = self._attempt(inv, pm_id, automatic=False)
        if code:
            # a manual attempt leaves the automatic schedule as it was
            if sub["status"] not in ("canceled",) and inv["status"] == "open":
                inv["next_payment_attempt"] = next_attempt
            error = ApiError(402, DECLINE_MESSAGES.get(code, "Your card was declined."),
                             code="card_declined", type_="card_error")
            error.body["error"]["decline_code"] = code
            raise error
        return 200, self._public(inv)

    def _api_retrieve_invoice(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("in", id))

    def _api_list_invoices(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("customer", "subscription", "status", "collection_method",
                                 "created", "limit", "starting_after", "expand"))
        if "status" in params:
            _choice(params["status"], INVOICE_STATUSES, "status")
        invoices = [i for i in self._objects["in"].values()
                    if params.get("customer", i["customer"]) == i["customer"]
                    and params.get("subscription", self._subscription_of(i))
                    == self._subscription_of(i)
                    and params.get("status", i["status"]) == i["status"]]
        return 200, self._page(invoices, params, "/v1/invoices", "invoice")

    def _api_list_invoice_payments(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("invoice", "status", "limit", "starting_after", "expand"))
        payments = [p for p in self._objects["inpay"].values()
                    if params.get("invoice", p["invoice"]) == p["invoice"]
                    and params.get("status", p["status"]) == p["status"]]
        return 200, self._page(payments, params, "/v1/invoice_payments", "invoice_payment")

    def _api_retrieve_invoice_payment(self, params: Params,
                                      id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("inpay", id))

    def _invoice_page(self, invoice_id: str) -> Response:
        """The page ``hosted_invoice_url`` points at (no auth, like Stripe's); paying there is
        modelled by ``invoices.pay``."""
        with self._lock:
            inv = self._objects["in"].get(invoice_id)
            if inv is None or inv["hosted_invoice_url"] is None:
                return Response("No such invoice", status=404, mimetype="text/plain")
            number, status = inv["number"], inv["status"]
            due = f"{inv['amount_remaining'] / 100:.2f} EUR"
        page = (f"<!doctype html><title>Fake Stripe Invoice</title><h1>Invoice "
                f"{html.escape(number)}</h1><p>Status: {html.escape(status)}</p>"
                f"<p>Amount due: {html.escape(due)}</p>")
        return Response(page, mimetype="text/html")

    def _includable_payments(self, invoice_id: str) -> dict[str, Any]:
        payments = [self._public(p) for p in self._payments_of(invoice_id)]
        return {**_list_body(f"/v1/invoice_payments?invoice={invoice_id}", payments),
                "total_count": len(payments)}

    # events ---------------------------------------------------------------------------------------

    def _record_updated(self, type_: str, obj: dict[str, Any], before: dict[str, Any]) -> None:
        """An ``*.updated`` event whose ``data.previous_attributes`` holds the old values of
        the top-level fields that changed, as Stripe sends them (nothing if nothing did)."""
        after = self._public(obj)
        previous = {k: v for k, v in before.items() if after.get(k) != v}
        if previous or not type_.endswith(".updated"):
            self._record(type_, obj, previous if type_.endswith(".updated") else None)
