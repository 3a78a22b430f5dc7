"""Stripe Billing for the fake Stripe server: customers, products, prices, subscriptions,
invoices, payment methods, SEPA mandates, setup intents and Checkout in ``subscription`` and
``setup`` mode.

:class:`BillingMixin` is mixed into :class:`tests.payments.stripe_server.StripeServer`; it uses
the server's object store, event log and clock. Objects have the shapes of the API version the
SDK pins (``2026-10-28.endive``): a subscription's ``current_period_start``/``_end`` live on its
*items*, an invoice names its subscription in ``parent.subscription_details.subscription`` and
its PaymentIntents in the includable ``payments`` list (``expand=["payments"]``), not in the
``subscription``/``payment_intent``/``charge`` fields older versions had.

Time is the server's injected clock. Nothing happens in the background: a test moves its clock
and calls :meth:`BillingMixin.advance_billing`, which performs, in time order and stamped with
the time they were due, every renewal, retry, scheduled cancellation, expiry and (optionally)
SEPA settlement that fell due. See docs/payments.md, "The test suite's Stripe-compatible
server: Billing", for what is emulated and where it deviates from Stripe.
"""

from __future__ import annotations

import calendar
import copy
import html
import re
import secrets
import string
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
    _required,
    _string,
)

if TYPE_CHECKING:
    from collections.abc import Callable

DAY = 24 * 60 * 60
INCOMPLETE_EXPIRY_SECONDS = 23 * 60 * 60
INTERVALS = ("day", "week", "month", "year")
SUBSCRIPTION_STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due",
                         "canceled", "unpaid", "paused")
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
PAYMENT_METHOD_TYPES = ("card", "sepa_debit")
PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")
AFTER_FINAL_FAILURE = ("unpaid", "canceled", "past_due")
DECLINE_MESSAGES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}

# Billing objects by id prefix; the server's store gets one dict per prefix.
BILLING_OBJECTS = {
    "cus": "customer", "prod": "product", "price": "price", "sub": "subscription",
    "si": "subscription_item", "in": "invoice", "inpay": "invoice_payment",
    "pm": "payment_method", "mandate": "mandate", "seti": "setup_intent", "il": "line_item",
}
BILLING_EXPANDABLE = {
    "customer": "cus", "product": "prod", "price": "price", "subscription": "sub",
    "latest_invoice": "in", "invoice": "in", "default_payment_method": "pm",
    "payment_method": "pm", "mandate": "mandate", "setup_intent": "seti",
}
# Embedded objects an ``expand`` path may pass through on its way to an expandable field.
TRAVERSABLE = frozenset({"data", "items", "lines", "parent", "subscription_details", "payments",
                         "payment", "pricing", "price_details", "invoice_settings"})

_REF_ALPHABET = string.ascii_uppercase + string.digits


# --- time and money ----------------------------------------------------------------------------

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


def _reference() -> str:
    """A SEPA mandate reference in Stripe's style (16 characters, upper case and digits)."""
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(16))


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


_CLAUSE_RE = re.compile(r"^(email|name|metadata\['([^']+)'\]):'([^']*)'$")


def _search_matches(customer: dict[str, Any], query: str) -> bool:
    """The part of Stripe's search query language the app needs: exact ``field:'value'``
    clauses on email, name and ``metadata['key']``, joined by AND."""
    for clause in query.split(" AND "):
        match = _CLAUSE_RE.match(clause.strip())
        if not match:
            raise ApiError(400, f"Unsupported search query: {clause!r}", param="query")
        field, key, value = match.groups()
        actual = customer["metadata"].get(key) if key else customer.get(field)
        if actual != value:
            return False
    return True


class BillingMixin:
    """Billing endpoints, test controls and the billing clock; see the module docstring."""

    BILLING_RULES: tuple[tuple[str, str, str], ...] = (
        ("/v1/customers", "POST", "create_customer"),
        ("/v1/customers", "GET", "list_customers"),
        ("/v1/customers/search", "GET", "search_customers"),
        ("/v1/customers/<id>", "GET", "retrieve_customer"),
        ("/v1/customers/<id>", "POST", "update_customer"),
        ("/v1/products", "POST", "create_product"),
        ("/v1/products", "GET", "list_products"),
        ("/v1/products/<id>", "GET", "retrieve_product"),
        ("/v1/products/<id>", "POST", "update_product"),
        ("/v1/prices", "POST", "create_price"),
        ("/v1/prices", "GET", "list_prices"),
        ("/v1/prices/<id>", "GET", "retrieve_price"),
        ("/v1/prices/<id>", "POST", "update_price"),
        ("/v1/subscriptions", "GET", "list_subscriptions"),
        ("/v1/subscriptions/<id>", "GET", "retrieve_subscription"),
        ("/v1/subscriptions/<id>", "POST", "update_subscription"),
        ("/v1/subscriptions/<id>", "DELETE", "cancel_subscription"),
        ("/v1/invoices", "GET", "list_invoices"),
        ("/v1/invoices/<id>", "GET", "retrieve_invoice"),
        ("/v1/invoices/<id>/pay", "POST", "pay_invoice"),
        ("/v1/invoice_payments", "GET", "list_invoice_payments"),
        ("/v1/invoice_payments/<id>", "GET", "retrieve_invoice_payment"),
        ("/v1/payment_methods/<id>", "GET", "retrieve_payment_method"),
        ("/v1/mandates/<id>", "GET", "retrieve_mandate"),
        ("/v1/setup_intents", "GET", "list_setup_intents"),
        ("/v1/setup_intents/<id>", "GET", "retrieve_setup_intent"),
    )

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

    def _reset_billing(self) -> None:
        for prefix in BILLING_OBJECTS:
            self._objects[prefix] = {}
        self._at: int | None = None
        self._declines: dict[str, dict[str, Any]] = {}
        #: Days after each failed automatic attempt until the next (Smart Retries stand-in).
        self.retry_days: tuple[int, ...] = (3, 5, 7)
        #: What a subscription becomes when the last retry failed (Stripe's settings).
        self.after_final_failure = "unpaid"
        #: Settle processing SEPA debits automatically this many days after they were made,
        #: during :meth:`advance_billing`; ``None`` leaves it to :meth:`finish_async`.
        self.sepa_settlement_days: int | None = None

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

    # customers ------------------------------------------------------------------------------------

    _CUSTOMER_FIELDS = ("email", "name", "metadata", "description", "phone", "preferred_locales",
                        "invoice_settings", "expand")

    def _api_create_customer(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, self._CUSTOMER_FIELDS)
        customer = self._create("cus", "customer", {
            "email": None, "name": None, "description": None, "phone": None, "address": None,
            "balance": 0, "currency": None, "delinquent": False, "default_source": None,
            "invoice_prefix": secrets.token_hex(4).upper(), "next_invoice_sequence": 1,
            "preferred_locales": [], "shipping": None, "tax_exempt": "none", "metadata": {},
            "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                                 "footer": None, "rendering_options": None},
        })
        self._apply_customer_params(customer, params)
        self._record("customer.created", customer)
        return 200, self._public(customer)

    def _apply_customer_params(self, customer: dict[str, Any], params: Params) -> None:
        for field in ("email", "name", "description", "phone"):
            if field in params:
                value = _string(params[field], field) or None
                if (field == "email" and value is not None
                        and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value)):
                    raise ApiError(400, f"Invalid email address: {value}", param="email",
                                   code="email_invalid")
                customer[field] = value
        if "metadata" in params:
            customer["metadata"] = _merge_metadata(customer["metadata"], params["metadata"],
                                                   "metadata")
        if "preferred_locales" in params:
            customer["preferred_locales"] = [
                _string(v, "preferred_locales")
                for v in _as_list(params["preferred_locales"] or [], "preferred_locales")]
        settings = params.get("invoice_settings")
        if settings is not None:
            if not isinstance(settings, dict):
                raise ApiError(400, "Invalid object", param="invoice_settings")
            _reject_unknown(settings, ("default_payment_method",), "invoice_settings")
            if "default_payment_method" in settings:
                pm_id = settings["default_payment_method"] or None
                if pm_id is not None:
                    self._attached_pm(pm_id, customer["id"],
                                      "invoice_settings[default_payment_method]")
                customer["invoice_settings"]["default_payment_method"] = pm_id

    def _api_update_customer(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, self._CUSTOMER_FIELDS)
        customer = self._get("cus", id)
        before = self._public(customer)
        self._apply_customer_params(customer, params)
        self._record_updated("customer.updated", customer, before)
        return 200, self._public(customer)

    def _api_retrieve_customer(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("cus", id))

    def _api_list_customers(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("email", "created", "limit", "starting_after", "expand"))
        customers = [c for c in self._objects["cus"].values()
                     if "email" not in params or c["email"] == params["email"]]
        return 200, self._page(customers, params, "/v1/customers", "customer")

    def _api_search_customers(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("query", "limit", "page", "expand"))
        query = _string(_required(params, "query", "query"), "query")
        limit = _integer(params.get("limit", "10"), "limit", minimum=1)
        found = [self._public(c) for c in reversed(self._objects["cus"].values())
                 if _search_matches(c, query)]
        return 200, {"object": "search_result", "url": "/v1/customers/search",
                     "has_more": len(found) > limit, "next_page": None,
                     "data": found[:limit]}

    # products and prices --------------------------------------------------------------------------

    def _api_create_product(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("id", "name", "description", "metadata", "active", "expand"))
        fields = {"name": _string(_required(params, "name", "name"), "name"),
                  "description": params.get("description") or None,
                  "active": _boolean(params.get("active", "true"), "active"),
                  "metadata": _metadata(params.get("metadata"), "metadata"),
                  "default_price": None, "images": [], "marketing_features": [],
                  "package_dimensions": None, "shippable": None, "statement_descriptor": None,
                  "tax_code": None, "type": "service", "unit_label": None, "url": None}
        product = self._create("prod", "product", fields)
        if "id" in params:  # Stripe lets you choose a product's id
            custom = _string(params["id"], "id")
            if custom in self._objects["prod"]:
                raise ApiError(400, f"Product already exists: {custom}", param="id",
                               code="resource_already_exists")
            del self._objects["prod"][product["id"]]
            product["id"] = custom
            self._objects["prod"][custom] = product
        product["updated"] = product["created"]
        self._record("product.created", product)
        return 200, self._public(product)

    def _api_update_product(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("name", "description", "metadata", "active", "default_price",
                                 "expand"))
        product = self._get("prod", id)
        before = self._public(product)
        if "name" in params:
            product["name"] = _string(params["name"], "name")
        if "description" in params:
            product["description"] = params["description"] or None
        if "active" in params:
            product["active"] = _boolean(params["active"], "active")
        if "metadata" in params:
            product["metadata"] = _merge_metadata(product["metadata"], params["metadata"],
                                                  "metadata")
        if "default_price" in params:
            product["default_price"] = self._get("price", params["default_price"])["id"]
        product["updated"] = self._now()
        self._record_updated("product.updated", product, before)
        return 200, self._public(product)

    def _api_retrieve_product(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("prod", id))

    def _api_list_products(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("active", "created", "limit", "starting_after", "expand"))
        active = _boolean(params["active"], "active") if "active" in params else None
        products = [p for p in self._objects["prod"].values()
                    if active is None or p["active"] == active]
        return 200, self._page(products, params, "/v1/products", "product")

    def _api_create_price(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("currency", "unit_amount", "product", "product_data",
                                 "recurring", "lookup_key", "transfer_lookup_key", "nickname",
                                 "metadata", "active", "tax_behavior", "expand"))
        currency = _string(_required(params, "currency", "currency"), "currency").lower()
        if currency != "eur":
            raise ApiError(400, "This server only supports currency=eur.", param="currency")
        unit = _integer(_required(params, "unit_amount", "unit_amount"), "unit_amount",
                        minimum=0)
        if "product" in params and "product_data" in params:
            raise ApiError(400, "You may only specify one of these parameters: product, "
                           "product_data.", param="product")
        if "product_data" in params:
            data = params["product_data"]
            if not isinstance(data, dict):
                raise ApiError(400, "Invalid object", param="product_data")
            _reject_unknown(data, ("name", "metadata"), "product_data")
            _, product = self._api_create_product(data)
            product_id = product["id"]
        else:
            product_id = self._get("prod", _required(params, "product", "product"))["id"]
        recurring = None
        if "recurring" in params:
            raw = params["recurring"]
            if not isinstance(raw, dict):
                raise ApiError(400, "Invalid object", param="recurring")
            _reject_unknown(raw, ("interval", "interval_count"), "recurring")
            interval = _choice(_required(raw, "interval", "recurring[interval]"), INTERVALS,
                               "recurring[interval]")
            count = _integer(raw.get("interval_count", "1"), "recurring[interval_count]",
                             minimum=1)
            recurring = {"interval": interval, "interval_count": count, "meter": None,
                         "trial_period_days": None, "usage_type": "licensed"}
        lookup_key = params.get("lookup_key") or None
        if lookup_key is not None:
            holder = self._price_by_lookup_key(lookup_key)
            if holder is not None:
                if params.get("transfer_lookup_key") != "true":
                    raise ApiError(400, f"A price ({holder['id']}) already uses that lookup "
                                   "key.", param="lookup_key")
                holder["lookup_key"] = None
        price = self._create("price", "price", {
            "active": _boolean(params.get("active", "true"), "active"),
            "billing_scheme": "per_unit", "currency": currency, "custom_unit_amount": None,
            "lookup_key": lookup_key, "metadata": _metadata(params.get("metadata"), "metadata"),
            "nickname": params.get("nickname") or None, "product": product_id,
            "recurring": recurring,
            "tax_behavior": _choice(params.get("tax_behavior", "unspecified"),
                                    ("inclusive", "exclusive", "unspecified"), "tax_behavior"),
            "tiers_mode": None, "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit, "unit_amount_decimal": str(unit),
        })
        self._record("price.created", price)
        return 200, self._public(price)

    def _price_by_lookup_key(self, key: str) -> dict[str, Any] | None:
        return next((p for p in self._objects["price"].values() if p["lookup_key"] == key), None)

    def _api_update_price(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        # unit_amount, currency and recurring are immutable: they are unknown parameters here
        _reject_unknown(params, ("active", "metadata", "nickname", "lookup_key",
                                 "transfer_lookup_key", "tax_behavior", "expand"))
        price = self._get("price", id)
        before = self._public(price)
        if "active" in params:
            price["active"] = _boolean(params["active"], "active")
        if "metadata" in params:
            price["metadata"] = _merge_metadata(price["metadata"], params["metadata"],
                                                "metadata")
        if "nickname" in params:
            price["nickname"] = params["nickname"] or None
        if "lookup_key" in params:
            key = params["lookup_key"] or None
            holder = self._price_by_lookup_key(key) if key else None
            if holder is not None and holder is not price:
                if params.get("transfer_lookup_key") != "true":
                    raise ApiError(400, f"A price ({holder['id']}) already uses that lookup "
                                   "key.", param="lookup_key")
                holder["lookup_key"] = None
            price["lookup_key"] = key
        self._record_updated("price.updated", price, before)
        return 200, self._public(price)

    def _api_retrieve_price(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("price", id))

    def _api_list_prices(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("active", "product", "lookup_keys", "type", "currency",
                                 "created", "limit", "starting_after", "expand"))
        keys = ([_string(k, "lookup_keys") for k in _as_list(params["lookup_keys"],
                                                               "lookup_keys")]
                if "lookup_keys" in params else None)
        active = _boolean(params["active"], "active") if "active" in params else None
        prices = [p for p in self._objects["price"].values()
                  if (active is None or p["active"] == active)
                  and params.get("product", p["product"]) == p["product"]
                  and params.get("type", p["type"]) == p["type"]
                  and (keys is None or p["lookup_key"] in keys)]
        return 200, self._page(prices, params, "/v1/prices", "price")

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

    # payment methods, mandates, setup intents ------------------------------------------------------

    def _new_payment_method(self, kind: str, customer: dict[str, Any]) -> dict[str, Any]:
        """What the customer entered on the Checkout page, attached to the customer; a SEPA
        debit gets its multi-use mandate (accepted online, now)."""
        details: dict[str, Any]
        if kind == "card":
            details = {"card": {
                "brand": "visa", "display_brand": "visa", "country": "DE", "exp_month": 12,
                "exp_year": datetime.fromtimestamp(self._now(), UTC).year + 3,
                "fingerprint": secrets.token_hex(8), "funding": "credit", "last4": "4242",
                "checks": {"address_line1_check": None, "address_postal_code_check": None,
                           "cvc_check": "pass"},
                "networks": {"available": ["visa"], "preferred": None},
                "three_d_secure_usage": {"supported": True}, "wallet": None,
                "generated_from": None, "regulated_status": "unregulated"}}
        else:
            details = {"sepa_debit": {
                "bank_code": "37040044", "branch_code": "", "country": "DE",
                "fingerprint": secrets.token_hex(8), "last4": "3000",
                "generated_from": {"charge": None, "setup_attempt": None}}}
        pm = self._create("pm", "payment_method", {
            "type": kind, "customer": customer["id"], "metadata": {},
            "allow_redisplay": "unspecified",
            "billing_details": {"email": customer["email"], "name": customer["name"],
                                "phone": None, "tax_id": None,
                                "address": {"city": None, "country": "DE", "line1": None,
                                            "line2": None, "postal_code": None,
                                            "state": None}},
            **details,
        })
        self._record("payment_method.attached", pm)
        if kind == "sepa_debit":
            reference = _reference()
            mandate = self._create("mandate", "mandate", {
                "customer_acceptance": {"accepted_at": self._now(), "type": "online",
                                        "online": {"ip_address": "127.0.0.1",
                                                   "user_agent": "Fake Stripe Checkout"}},
                "multi_use": {}, "on_behalf_of": None, "payment_method": pm["id"],
                "payment_method_details": {"type": "sepa_debit", "sepa_debit": {
                    "reference": reference,
                    "url": f"{self.base_url}/mandates/{reference}"}},
                "status": "active", "type": "multi_use",
            })
            pm["_mandate"] = mandate["id"]
            self._record("mandate.updated", mandate)
        return pm

    def _attached_pm(self, pm_id: Any, customer_id: str, param: str) -> dict[str, Any]:
        pm = self._objects["pm"].get(_string(pm_id, param))
        if pm is None:
            raise ApiError(400, f"No such PaymentMethod: '{pm_id}'", param=param,
                           code="resource_missing")
        if pm["customer"] != customer_id:
            raise ApiError(400, f"The PaymentMethod {pm_id} does not belong to the Customer "
                           f"{customer_id}. Please attach it first.", param=param)
        return pm

    def _api_retrieve_payment_method(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("pm", id))

    def _api_retrieve_mandate(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("mandate", id))

    def _api_list_setup_intents(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("customer", "payment_method", "created", "limit",
                                 "starting_after", "expand"))
        found = [s for s in self._objects["seti"].values()
                 if params.get("customer", s["customer"]) == s["customer"]
                 and params.get("payment_method", s["payment_method"]) == s["payment_method"]]
        return 200, self._page(found, params, "/v1/setup_intents", "setup_intent")

    def _api_retrieve_setup_intent(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("seti", id))

    # checkout in subscription and setup mode --------------------------------------------------------

    def _billing_session_fields(self, params: Params, mode: str) -> dict[str, Any]:
        """The mode-specific fields of a subscription- or setup-mode session (the caller
        validated what all modes share)."""
        customer_id = params.get("customer")
        if customer_id is not None:
            customer_id = self._get("cus", customer_id)["id"]
            if "customer_email" in params:
                raise ApiError(400, "You may only specify one of these parameters: customer, "
                               "customer_email.", param="customer_email")
        if "payment_intent_data" in params:
            raise ApiError(400, f"You can not pass `payment_intent_data` in `{mode}` mode.",
                           param="payment_intent_data")
        fields: dict[str, Any] = {"customer": customer_id, "subscription": None,
                                  "setup_intent": None, "invoice": None,
                                  "customer_details": None}
        if mode == "setup":
            if "line_items" in params or "subscription_data" in params:
                param = "line_items" if "line_items" in params else "subscription_data"
                raise ApiError(400, f"You can not pass `{param}` in `setup` mode.", param=param)
            data = params.get("setup_intent_data", {})
            if not isinstance(data, dict):
                raise ApiError(400, "Invalid object", param="setup_intent_data")
            _reject_unknown(data, ("metadata", "description"), "setup_intent_data")
            fields.update(amount_subtotal=None, amount_total=None, payment_status="no_payment_required",
                          _line_items=[],
                          _seti_metadata=_metadata(data.get("metadata"),
                                                   "setup_intent_data[metadata]"))
            return fields
        if "setup_intent_data" in params:
            raise ApiError(400, "You can not pass `setup_intent_data` in `subscription` mode.",
                           param="setup_intent_data")
        items = _as_list(_required(params, "line_items", "line_items"), "line_items")
        line_items = [self._subscription_line_item(item, f"line_items[{i}]")
                      for i, item in enumerate(items)]
        if all(i["_price"]["recurring"] is None for i in line_items):
            raise ApiError(400, "You must specify at least one recurring price in "
                           "`subscription` mode.", param="line_items")
        intervals = {(i["_price"]["recurring"]["interval"],
                      i["_price"]["recurring"]["interval_count"]) for i in line_items
                     if i["_price"]["recurring"] is not None}
        if len(intervals) > 1:
            raise ApiError(400, "All prices on a subscription must have the same "
                           "`recurring.interval` and `recurring.interval_count`.",
                           param="line_items")
        data = params.get("subscription_data", {})
        if not isinstance(data, dict):
            raise ApiError(400, "Invalid object", param="subscription_data")
        _reject_unknown(data, ("billing_cycle_anchor", "proration_behavior", "metadata",
                               "description", "default_tax_rates"), "subscription_data")
        now = self._now()
        anchor = None
        if "billing_cycle_anchor" in data:
            anchor = _integer(data["billing_cycle_anchor"],
                              "subscription_data[billing_cycle_anchor]")
            interval, count = intervals.pop()
            if not now < anchor <= add_interval(now, interval, count, now):
                raise ApiError(400, "`subscription_data[billing_cycle_anchor]` must be in the "
                               "future and no later than one billing period from now.",
                               param="subscription_data[billing_cycle_anchor]")
        proration = _choice(data.get("proration_behavior", "create_prorations"),
                            ("create_prorations", "none"),
                            "subscription_data[proration_behavior]")
        if "proration_behavior" in data and anchor is None:
            raise ApiError(400, "`subscription_data[proration_behavior]` can only be passed "
                           "with `subscription_data[billing_cycle_anchor]`.",
                           param="subscription_data[proration_behavior]")
        total = sum(self._first_lines_total(line_items, now, anchor, proration))
        fields.update(amount_subtotal=total, amount_total=total, _line_items=line_items,
                      _subscription_data={
                          "anchor": anchor, "proration": proration,
                          "metadata": _metadata(data.get("metadata"),
                                                "subscription_data[metadata]"),
                          "description": data.get("description") or None})
        return fields

    def _subscription_line_item(self, item: Any, param: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid object", param=param)
        _reject_unknown(item, ("price", "price_data", "quantity"), param)
        if "price_data" in item:
            # An ad-hoc price (Stripe makes a Price object of it); a one-time one is charged
            # on the first invoice only, as Stripe does in subscription mode.
            data = item["price_data"]
            if "price" in item or not isinstance(data, dict):
                raise ApiError(400, "Pass either price or price_data.", param=param)
            _reject_unknown(data, ("currency", "unit_amount", "product", "product_data",
                                   "recurring"), f"{param}[price_data]")
            _, public = self._api_create_price(data)
            price = self._objects["price"][public["id"]]
            price["active"] = False  # Stripe's inline prices cannot be reused
        else:
            price = self._objects["price"].get(_required(item, "price", f"{param}[price]"))
            if price is None:
                raise ApiError(400, f"No such price: '{item['price']}'",
                               param=f"{param}[price]", code="resource_missing")
            if not price["active"]:
                raise ApiError(400, f"The price specified is inactive: {price['id']}",
                               param=f"{param}[price]")
        quantity = _integer(item.get("quantity", "1"), f"{param}[quantity]", minimum=1)
        product = self._objects["prod"][price["product"]]
        return {"name": product["name"], "description": product["description"],
                "unit_amount": price["unit_amount"], "quantity": quantity,
                "amount_total": price["unit_amount"] * quantity, "price": price["id"],
                "_price": price}

    def _first_lines_total(self, line_items: list[dict[str, Any]], now: int, anchor: int | None,
                           proration: str) -> list[int]:
        """What each line of the first invoice charges: a whole period, or with a future
        anchor the prorated stub up to it (nothing when proration is off)."""
        amounts = []
        for item in line_items:
            full = item["unit_amount"] * item["quantity"]
            if anchor is None or item["_price"]["recurring"] is None:
                amounts.append(full)
            elif proration == "none":
                amounts.append(0)
            else:
                recurring = item["_price"]["recurring"]
                start = add_interval(anchor, recurring["interval"],
                                     -recurring["interval_count"], anchor)
                amounts.append(prorate(full, anchor - now, anchor - start))
        return amounts

    def _complete_billing_checkout(self, session: dict[str, Any], method: str) -> None:
        """Checkout in subscription or setup mode completed with ``method`` (``card`` or
        ``sepa_debit``); see :meth:`StripeServer.complete_checkout`."""
        if method not in session["payment_method_types"]:
            raise ControlError(f"session {session['id']} does not offer {method}")
        if (method == "card" and session["mode"] == "subscription" and session["customer"]
                and session["customer"] in self._declines):
            raise ControlError("the card is declined: on Stripe the customer stays on the "
                               "Checkout page and the session stays open")
        customer = (self._objects["cus"][session["customer"]] if session["customer"]
                    else self._checkout_customer(session))
        session["customer"] = customer["id"]
        session["customer_details"] = {"email": customer["email"], "name": customer["name"],
                                       "phone": None, "tax_exempt": "none", "tax_ids": [],
                                       "address": None}
        pm = self._new_payment_method(method, customer)
        session.update(status="complete", url=None)
        if session["mode"] == "setup":
            seti = self._create("seti", "setup_intent", {
                "customer": customer["id"], "payment_method": pm["id"], "status": "succeeded",
                "usage": "off_session", "payment_method_types": [method],
                "mandate": pm.get("_mandate"), "metadata": dict(session["_seti_metadata"]),
                "description": None, "cancellation_reason": None, "last_setup_error": None,
                "latest_attempt": None, "next_action": None, "single_use_mandate": None,
            })
            session["setup_intent"] = seti["id"]
            self._record("setup_intent.created", seti)
            self._record("setup_intent.succeeded", seti)
            self._record("checkout.session.completed", session)
            return
        data = session["_subscription_data"]
        sub = self._new_subscription(customer, session["_line_items"], pm, data)
        one_time = [self._one_time_line(item, sub) for item in session["_line_items"]
                    if item["_price"]["recurring"] is None]
        inv = self._invoice_for(sub, "subscription_create",
                                [*self._first_lines(sub, data), *one_time])
        session.update(subscription=sub["id"], invoice=inv["id"],
                       amount_total=inv["total"], amount_subtotal=inv["subtotal"])
        self._finalize_and_charge(inv, pm["id"])
        if inv["status"] == "paid" and not inv["amount_paid"]:
            # Nothing to pay now (a free stub up to the anchor): Checkout saved the method
            # for later with a SetupIntent, which holds the SEPA mandate.
            seti = self._create("seti", "setup_intent", {
                "customer": customer["id"], "payment_method": pm["id"], "status": "succeeded",
                "usage": "off_session", "payment_method_types": [method],
                "mandate": pm.get("_mandate"), "metadata": {},
                "description": None, "cancellation_reason": None, "last_setup_error": None,
                "latest_attempt": None, "next_action": None, "single_use_mandate": None,
            })
            self._record("setup_intent.succeeded", seti)
        if inv["status"] == "paid":
            session["payment_status"] = ("paid" if inv["amount_paid"]
                                         else "no_payment_required")
        else:  # a SEPA debit processing: async_payment_succeeded/_failed follow
            session["_awaiting_payment"] = True
        self._record("checkout.session.completed", session)

    def _one_time_line(self, item: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
        """A one-time price of a subscription-mode Checkout, on the first invoice only."""
        now = self._now()
        price = self._public(item["_price"])
        return {"amount": item["amount_total"], "price": price, "quantity": item["quantity"],
                "proration": False, "period": (now, now), "item": None, "one_time": True,
                "description": f"{item['quantity']} × {item['name']}"}

    def _checkout_customer(self, session: dict[str, Any]) -> dict[str, Any]:
        params: Params = {}
        if session["customer_email"]:
            params["email"] = session["customer_email"]
        _, public = self._api_create_customer(params)
        return self._objects["cus"][public["id"]]

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
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise ApiError(400, "A canceled subscription can only update its "
                           "cancellation_details and metadata.", param="items"
                           if "items" in params else None)
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
        if sub["cancel_at"] is None:
            sub["canceled_at"] = None
        elif before["cancel_at"] != sub["cancel_at"]:
            sub["canceled_at"] = now
            sub["cancellation_details"]["reason"] = "cancellation_requested"
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
        self._set_status(sub, "incomplete_expired", ended_at=self._now())

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
        decline = self._take_decline(pm)
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

