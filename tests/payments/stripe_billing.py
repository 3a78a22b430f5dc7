"""Stripe Billing for the fake Stripe server: customers, products, prices, subscriptions,
invoices, payment methods, SEPA mandates, setup intents and Checkout in ``subscription`` and
``setup`` mode.

:class:`BillingMixin` is mixed into :class:`tests.payments.stripe_server.StripeServer`; it uses
the server's object store, event log and clock. Objects have the shapes of the API version the
SDK pins (``2026-10-28.endive``): a subscription's ``current_period_start``/``_end`` live on its
*items*, an invoice names its subscription in ``parent.subscription_details.subscription`` and
its PaymentIntents in the includable ``payments`` list (``expand=["payments"]``), not in the
``subscription``/``payment_intent``/``charge`` fields older versions had.

The billing cycle (subscriptions, invoices, renewals, retries) is in :mod:`stripe_invoicing`.
Time is the server's injected clock. Nothing happens in the background: a test moves its clock
and calls :meth:`InvoicingMixin.advance_billing`, which performs, in time order and stamped with
the time they were due, every renewal, retry, scheduled cancellation, expiry and (optionally)
SEPA settlement that fell due. See docs/payments.md, "The test suite's Stripe-compatible
server: Billing", for what is emulated and where it deviates from Stripe.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import UTC, datetime
from typing import Any

from .stripe_invoicing import (
    InvoicingMixin,
    _boolean,
    _merge_metadata,
    add_interval,
    prorate,
)
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

INTERVALS = ("day", "week", "month", "year")
PAYMENT_METHOD_TYPES = ("card", "sepa_debit")

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


def _reference() -> str:
    """A SEPA mandate reference in Stripe's style (16 characters, upper case and digits)."""
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(16))


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


class BillingMixin(InvoicingMixin):
    """Billing endpoints (routes below) and Checkout in subscription and setup mode."""

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
        ("/v1/payment_methods", "GET", "list_payment_methods"),
        ("/v1/customers/<customer>/payment_methods", "GET", "list_customer_payment_methods"),
        ("/v1/payment_methods/<id>", "GET", "retrieve_payment_method"),
        ("/v1/payment_methods/<id>/detach", "POST", "detach_payment_method"),
        ("/v1/mandates/<id>", "GET", "retrieve_mandate"),
        ("/v1/setup_intents", "GET", "list_setup_intents"),
        ("/v1/setup_intents/<id>", "GET", "retrieve_setup_intent"),
    )

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

    def _api_retrieve_payment_method(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("pm", id))

    def _api_list_payment_methods(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("customer", "type", "limit", "starting_after", "expand"))
        if "type" in params:
            _choice(params["type"], PAYMENT_METHOD_TYPES, "type")
        methods = [pm for pm in self._objects["pm"].values()
                   if params.get("customer", pm["customer"]) == pm["customer"]
                   and params.get("type", pm["type"]) == pm["type"]]
        return 200, self._page(methods, params, "/v1/payment_methods", "payment_method")

    def _api_list_customer_payment_methods(self, params: Params,
                                           customer: str) -> tuple[int, dict[str, Any]]:
        self._get("cus", customer)
        return self._api_list_payment_methods({**params, "customer": customer})

    def _api_detach_payment_method(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        """Detached, the method can no longer be charged; defaults naming it are cleared (a
        SEPA mandate becomes inactive), as on Stripe."""
        _reject_unknown(params, ("expand",))
        pm = self._get("pm", id)
        if pm["customer"] is None:
            raise ApiError(400, "The payment method you provided is not attached to a "
                           "customer so detachment is impossible.", param="payment_method")
        customer = self._objects["cus"][pm["customer"]]
        before_customer = self._public(customer)
        if customer["invoice_settings"]["default_payment_method"] == id:
            customer["invoice_settings"]["default_payment_method"] = None
            self._record_updated("customer.updated", customer, before_customer)
        for sub in self._objects["sub"].values():
            if sub["default_payment_method"] == id:
                before = self._public(sub)
                sub["default_payment_method"] = None
                self._record_updated("customer.subscription.updated", sub, before)
        if pm.get("_mandate"):
            mandate = self._objects["mandate"][pm["_mandate"]]
            mandate["status"] = "inactive"
            self._record("mandate.updated", mandate)
        pm["customer"] = None
        self._record("payment_method.detached", pm)
        return 200, self._public(pm)

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

    def _one_time_line(self, item: dict[str, Any]) -> dict[str, Any]:
        """A one-time price of a subscription-mode Checkout, on the first invoice only."""
        now = self._now()
        return {"amount": item["amount_total"], "price": self._public(item["_price"]),
                "quantity": item["quantity"], "proration": False, "period": (now, now),
                "item": None, "one_time": True,
                "description": f"{item['quantity']} × {item['name']}"}

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
        one_time = [self._one_time_line(item) for item in session["_line_items"]
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

    def _checkout_customer(self, session: dict[str, Any]) -> dict[str, Any]:
        params: Params = {}
        if session["customer_email"]:
            params["email"] = session["customer_email"]
        _, public = self._api_create_customer(params)
        return self._objects["cus"][public["id"]]
