"""A local Stripe-compatible HTTP server for tests.

The app talks to Stripe only through the official ``stripe`` SDK. Mocking the SDK would test our
assumptions about it rather than the code path that runs in production (form encoding, error
mapping, retries, idempotency keys, timeouts). This server speaks just enough of the real wire
protocol for the SDK to be pointed at it with ``base_addresses={"api": server.base_url}``.

It covers only what the app uses: Checkout Sessions, PaymentIntents, Charges and Refunds, in EUR,
and Stripe Billing (customers, prices, subscriptions, invoices: :mod:`stripe_billing` and
:mod:`stripe_invoicing`). What a customer does in the browser (paying, an async SEPA debit settling) is modelled by plain
Python "test controls" on :class:`StripeServer`, which also records the events Stripe would send
so webhook handlers can be fed realistic payloads (see :func:`signed_headers`).

Every "now" comes from the injected clock, because the app under test runs on a frozen clock
and computes ``expires_at`` from it; real time here would make expiry checks meaningless.
"""

from __future__ import annotations

import copy
import html
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import stripe
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .stripe_billing import (
    BILLING_EXPANDABLE,
    BILLING_OBJECTS,
    PAYMENT_METHOD_TYPES,
    TRAVERSABLE,
    BillingMixin,
)
from .stripe_wire import (
    ApiError,
    ControlError,
    LoggedRequest,
    Params,
    _as_list,
    _choice,
    _integer,
    _metadata,
    _new_id,
    _reject_unknown,
    _required,
    _string,
    parse_params,
)

__all__ = ["API_VERSION", "ApiError", "ControlError", "LoggedRequest", "StripeServer",
           "parse_params", "signed_headers"]

API_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 pins; events carry it like real ones
DEFAULT_API_KEY = "sk_test_schiller40"
MIN_EXPIRY_SECONDS = 30 * 60
MAX_EXPIRY_SECONDS = 24 * 60 * 60
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
LOCALES = frozenset((
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr",
    "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt",
    "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
))
# Fields that hold the id of another object and may be replaced by it via ``expand[]``.
EXPANDABLE = {"payment_intent": "pi", "latest_charge": "ch", "charge": "ch",
              **BILLING_EXPANDABLE}
OBJECT_NAMES = {"cs": "checkout.session", "pi": "payment_intent", "ch": "charge",
                "re": "refund", **BILLING_OBJECTS}


def signed_headers(payload: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers of a webhook delivery signed the way Stripe signs them.

    Pass ``timestamp`` from the app's frozen clock when the app checks the signature's age
    against that clock rather than real time.
    """
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug logs every request to stderr; in a test run that is only noise."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


# --- the server --------------------------------------------------------------------------------

class StripeServer(BillingMixin):
    """A fake Stripe API in a background thread; see the module docstring for why.

    One lock guards all state, so tests may call the controls while the app's requests run in
    other threads. Objects are stored as plain dicts in their public Stripe shape; keys starting
    with ``_`` are internal and never sent.
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.api_key = api_key
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = Map([
            Rule("/v1/checkout/sessions", methods=["POST"], endpoint="create_session"),
            Rule("/v1/checkout/sessions", methods=["GET"], endpoint="list_sessions"),
            Rule("/v1/checkout/sessions/<id>", methods=["GET"], endpoint="retrieve_session"),
            Rule("/v1/checkout/sessions/<id>/expire", methods=["POST"], endpoint="expire_session"),
            Rule("/v1/payment_intents/<id>", methods=["GET"], endpoint="retrieve_pi"),
            Rule("/v1/payment_intents/<id>/capture", methods=["POST"], endpoint="capture_pi"),
            Rule("/v1/payment_intents/<id>/cancel", methods=["POST"], endpoint="cancel_pi"),
            Rule("/v1/charges/<id>", methods=["GET"], endpoint="retrieve_charge"),
            Rule("/v1/refunds", methods=["POST"], endpoint="create_refund"),
            Rule("/v1/refunds", methods=["GET"], endpoint="list_refunds"),
            *(Rule(path, methods=[method], endpoint=endpoint)
              for path, method, endpoint in self.BILLING_RULES),
        ], strict_slashes=False)
        self.reset()

    # lifecycle

    def start(self) -> StripeServer:
        if self._server is not None:
            return self
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="fake-stripe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> StripeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("StripeServer is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def reset(self) -> None:
        """Forget every object, event, key and injected fault (one server may serve many tests)."""
        with self._lock:
            self._objects: dict[str, dict[str, dict[str, Any]]] = {
                "cs": {}, "pi": {}, "ch": {}, "re": {}}
            self._reset_billing()
            self._events: list[dict[str, Any]] = []
            self._idempotency: dict[str, tuple[str, Params, int, dict[str, Any]]] = {}
            self._created: Counter[str] = Counter()
            self._log: list[LoggedRequest] = []
            self._fail_next: list[tuple[int, str | None]] = []
            self.down = False
            self.delay_seconds = 0.0
            self._delays: dict[str, float] = {}

    # test controls: faults and inspection

    def fail_next(self, n: int, status: int = 500, *, path: str | None = None) -> None:
        """The next ``n`` API requests answer ``status`` with an ``api_error`` body; with
        ``path``, only requests whose path starts with it (e.g. ``"/v1/refunds"``), so a test
        can let the reads through and fail one write."""
        with self._lock:
            self._fail_next.extend([(status, path)] * n)

    def delay(self, path: str, seconds: float) -> None:
        """Answer requests whose path starts with ``path`` only after ``seconds`` (0: at once
        again), after doing the work, like ``delay_seconds`` but for one kind of request: a
        Stripe that is slow to create refunds while it still answers reads at once."""
        with self._lock:
            if seconds:
                self._delays[path] = seconds
            else:
                self._delays.pop(path, None)

    def created_count(self, kind: str) -> int:
        """How many objects of ``kind`` ("checkout.session", "refund", ...) were really created,
        which idempotent replays do not increase."""
        with self._lock:
            return self._created[kind]

    @property
    def request_log(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._events)

    def events_of_type(self, type_: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == type_]

    def clear_events(self) -> None:
        with self._lock:
            self._events.clear()

    def session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._get_session(session_id, control=True))

    def line_items(self, session_id: str) -> list[dict[str, Any]]:
        """What the session charges for (Stripe keeps this behind another endpoint)."""
        with self._lock:
            return copy.deepcopy(self._get("cs", session_id, control=True)["_line_items"])

    def payment_intent(self, pi_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._get("pi", pi_id, control=True))

    def charge(self, charge_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._get("ch", charge_id, control=True))

    # test controls: what the customer and the payment networks do

    def complete_checkout(self, session_id: str, outcome: str = "succeeded", *,
                          force: bool = False, payment_method: str | None = None
                          ) -> dict[str, Any]:
        """The customer pays on the Checkout page.

        ``outcome="succeeded"`` is a card payment (authorised only, when the session asked for
        manual capture); ``"processing"`` is an async method such as SEPA Direct Debit, settled
        later with :meth:`finish_async`. ``force=True`` completes an expired session, modelling
        a payment that raced the expiry on Stripe's side.

        In ``subscription`` and ``setup`` mode the customer enters ``payment_method``
        (``"card"``, or ``"sepa_debit"`` which accepts a mandate; by default ``"sepa_debit"``
        when ``outcome="processing"``, else ``"card"``): see :mod:`stripe_billing`.
        """
        if outcome not in ("succeeded", "processing"):
            raise ControlError(f"unknown outcome {outcome!r}")
        with self._lock:
            session = self._get_session(session_id, control=True)
            if session["status"] != "open" and not (force and session["status"] == "expired"):
                raise ControlError(f"checkout session {session_id} is {session['status']}, "
                                   "not open (force=True models a payment racing the expiry)")
            if session["mode"] != "payment":
                method = payment_method or ("sepa_debit" if outcome == "processing" else "card")
                self._complete_billing_checkout(session, method)
                return self._public(session)
            manual = session["_capture_method"] == "manual"
            if manual and outcome == "processing":
                raise ControlError("async payment methods do not support manual capture")
            amount = session["amount_total"]
            pi = self._create("pi", "payment_intent", {
                "amount": amount, "amount_received": 0, "amount_capturable": 0,
                "currency": "eur", "capture_method": session["_capture_method"],
                "metadata": dict(session["_pi_metadata"]), "latest_charge": None,
                "cancellation_reason": None, "status": "processing",
                "_async": outcome == "processing",
            })
            charge = self._create("ch", "charge", {
                "amount": amount, "amount_captured": 0, "amount_refunded": 0, "refunded": False,
                "captured": False, "paid": False, "status": "pending", "currency": "eur",
                "payment_intent": pi["id"],
            })
            pi["latest_charge"] = charge["id"]
            session.update(status="complete", payment_intent=pi["id"], url=None)
            if outcome == "processing":
                self._record("payment_intent.processing", pi)
            elif manual:
                pi.update(status="requires_capture", amount_capturable=amount)
                charge.update(paid=True, status="succeeded")
                self._record("payment_intent.amount_capturable_updated", pi)
            else:
                self._succeed(pi, charge)
                session["payment_status"] = "paid"
            self._record("checkout.session.completed", session)
            return self._public(session)

    def finish_async(self, payment_intent_id: str,
                     succeeded: bool | None = None) -> dict[str, Any]:
        """A ``processing`` payment (e.g. SEPA) settles or fails days later; returns the PI.

        ``succeeded=None`` succeeds unless :meth:`decline` applied when the debit was made."""
        with self._lock:
            pi = self._get("pi", payment_intent_id, control=True)
            if pi["status"] != "processing":
                raise ControlError(f"payment intent {pi['id']} is {pi['status']}, not processing")
            if pi.get("_invoice"):
                self._settle_invoice_payment(pi, succeeded)
                return self._public(pi)
            succeeded = True if succeeded is None else succeeded
            charge = self._objects["ch"][pi["latest_charge"]]
            session = next(s for s in self._objects["cs"].values()
                           if s["payment_intent"] == pi["id"])
            if succeeded:
                self._succeed(pi, charge)
                session["payment_status"] = "paid"
                self._record("checkout.session.async_payment_succeeded", session)
            else:
                pi["status"] = "requires_payment_method"
                charge["status"] = "failed"
                self._record("payment_intent.payment_failed", pi)
                self._record("checkout.session.async_payment_failed", session)
            return self._public(pi)

    def settle_refund(self, refund_id: str, succeeded: bool = True) -> dict[str, Any]:
        """A ``pending`` refund (of an async payment such as SEPA, which Stripe sends back by
        bank transfer over days) succeeds or fails; a failed one is no longer refunded."""
        with self._lock:
            refund = self._get("re", refund_id, control=True)
            if refund["status"] != "pending":
                raise ControlError(f"refund {refund_id} is {refund['status']}, not pending")
            refund["status"] = "succeeded" if succeeded else "failed"
            if not succeeded:
                charge = self._objects["ch"][refund["charge"]]
                charge["amount_refunded"] -= refund["amount"]
                charge["refunded"] = False
            self._record("charge.refund.updated", refund)
            self._record("refund.updated" if succeeded else "refund.failed", refund)
            return self._public(refund)

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        """Expire an open session now, as the API's expire endpoint does."""
        with self._lock:
            session = self._get_session(session_id, control=True)
            if session["status"] != "open":
                raise ControlError(f"checkout session {session_id} is {session['status']}")
            self._expire(session)
            return self._public(session)

    def expire_due(self) -> list[str]:
        """Expire every open session whose ``expires_at`` has passed, as Stripe does in the
        background (reads expire lazily; call this to get the events without reading)."""
        with self._lock:
            due = [s for s in self._objects["cs"].values()
                   if s["status"] == "open" and s["expires_at"] <= self._now()]
            for session in due:
                self._expire(session)
            return [s["id"] for s in due]

    # internals: state

    def _now(self) -> int:
        if self._at is not None:  # advance_billing doing what fell due at an earlier time
            return self._at
        now = self.clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the StripeServer clock must return an aware datetime")
        return int(now.timestamp())

    def _create(self, prefix: str, object_name: str, fields: dict[str, Any]) -> dict[str, Any]:
        obj = {"id": _new_id(prefix), "object": object_name, **fields,
               "created": self._now(), "livemode": False}
        self._objects[prefix][obj["id"]] = obj
        self._created[object_name] += 1
        return obj

    def _get(self, prefix: str, object_id: str, *, control: bool = False) -> dict[str, Any]:
        obj = self._objects[prefix].get(object_id)
        if obj is None:
            name = OBJECT_NAMES[prefix]
            if control:
                raise ControlError(f"no such {name}: {object_id!r}")
            raise ApiError(404, f"No such {name}: '{object_id}'", param="id",
                           code="resource_missing")
        return obj

    def _get_session(self, session_id: str, *, control: bool = False) -> dict[str, Any]:
        """A session, expired first if its time has passed (Stripe does this in the background;
        doing it on access gives the same answers without a timer thread)."""
        session = self._get("cs", session_id, control=control)
        if session["status"] == "open" and session["expires_at"] <= self._now():
            self._expire(session)
        return session

    def _expire(self, session: dict[str, Any]) -> None:
        session.update(status="expired", url=None)
        self._record("checkout.session.expired", session)

    def _succeed(
        self, pi: dict[str, Any], charge: dict[str, Any], amount: int | None = None
    ) -> None:
        """Money taken: all of it, or ``amount`` of an authorisation (a partial capture,
        whose remainder Stripe releases)."""
        taken = pi["amount"] if amount is None else amount
        pi.update(status="succeeded", amount_received=taken, amount_capturable=0)
        charge.update(captured=True, paid=True, status="succeeded", amount_captured=taken)
        self._record("payment_intent.succeeded", pi)

    def _record(self, type_: str, obj: dict[str, Any],
                previous: dict[str, Any] | None = None) -> None:
        data: dict[str, Any] = {"object": self._public(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        self._events.append({
            "id": _new_id("evt"), "object": "event", "type": type_, "created": self._now(),
            "api_version": API_VERSION, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": data,
        })

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy({k: v for k, v in obj.items() if not k.startswith("_")})

    @staticmethod
    def _expand_paths(params: Params) -> list[str]:
        """The ``expand[]`` paths, checked before the endpoint runs so that a bad one cannot
        leave a half-done request behind."""
        paths = [_string(p, "expand") for p in _as_list(params.get("expand", []), "expand")]
        for path in paths:
            if not all(part in EXPANDABLE or part in TRAVERSABLE for part in path.split(".")):
                raise ApiError(400, f"This property cannot be expanded ({path}).",
                               param="expand")
        return paths

    def _expand(self, body: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """Replace id fields by the objects they name, e.g. ``payment_intent.latest_charge``."""
        for path in paths:
            self._expand_path(body, path.split("."), path)
        return body

    def _expand_path(self, node: dict[str, Any], parts: list[str], path: str) -> None:
        if node.get("object") == "list" and parts[0] == "data" and len(parts) > 1:
            for item in node["data"]:
                self._expand_path(item, parts[1:], path)
            return
        field = parts[0]
        if field == "payments" and node.get("object") == "invoice":  # includable, not an id
            node[field] = self._includable_payments(node["id"])
        if field not in node or (field not in EXPANDABLE and not isinstance(node[field], dict)):
            raise ApiError(400, f"This property cannot be expanded ({path}).", param="expand")
        if isinstance(node[field], str) and field in EXPANDABLE:
            node[field] = self._public(self._objects[EXPANDABLE[field]][node[field]])
        if len(parts) > 1 and isinstance(node[field], dict):
            self._expand_path(node[field], parts[1:], path)

    # internals: HTTP

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.path.startswith("/c/pay/"):
            return self._checkout_page(request.path.removeprefix("/c/pay/"))(
                environ, start_response)
        if request.path.startswith("/i/"):
            return self._invoice_page(request.path.removeprefix("/i/"))(environ, start_response)
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        with self._lock:
            status, body, replayed = self._handle(request, key)
            self._log.append(LoggedRequest(request.method, request.path, key, status, replayed))
            delay = self.delay_seconds + max(
                (d for p, d in self._delays.items() if request.path.startswith(p)), default=0.0
            )
        if delay:  # after the work, so a timed-out request has still happened
            time.sleep(delay)
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        response.headers["Request-Id"] = _new_id("req")
        response.headers["Stripe-Version"] = API_VERSION
        if key:
            response.headers["Idempotency-Key"] = key
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response(environ, start_response)

    def _handle(self, request: Request, key: str | None) -> tuple[int, dict[str, Any], bool]:
        """Faults, authentication, idempotency, then the endpoint. Runs under the lock."""
        failure = None if self.down else next(
            (i for i, (_, path) in enumerate(self._fail_next)
             if path is None or request.path.startswith(path)), None)
        if self.down or failure is not None:
            status = 503 if failure is None else self._fail_next.pop(failure)[0]
            body = ApiError(status, "Fake Stripe: injected failure.", type_="api_error").body
            return status, body, False
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, ApiError(401, "Invalid API Key provided").body, False
        try:
            endpoint, args = self._routes.bind_to_environ(request.environ).match()
            params = self._params(request)
            target = f"{request.method} {request.path}"
            if key is not None and key in self._idempotency:
                stored_target, stored_params, status, body = self._idempotency[key]
                if stored_target != target or stored_params != params:
                    raise ApiError(400, "Keys for idempotent requests can only be used with the "
                                   "same parameters they were first used with. Try using a key "
                                   f"other than '{key}' if you meant to execute a different "
                                   "request.", type_="idempotency_error")
                return status, copy.deepcopy(body), True
            expand = self._expand_paths(params)
            status, body = getattr(self, f"_api_{endpoint}")(params, **args)
            body = self._expand(body, expand)
        except HTTPException:
            body = ApiError(404, f"Unrecognized request URL ({request.method}: {request.path}).")
            return 404, body.body, False
        except ApiError as error:
            return error.status, error.body, False
        except Exception as error:  # a bug here: answer like Stripe's 500s, with the cause
            body = ApiError(500, f"Fake Stripe crashed: {error!r}", type_="api_error").body
            return 500, body, False
        if key is not None:  # only successes are kept: a failed request may be retried as is
            self._idempotency[key] = (target, params, status, copy.deepcopy(body))
        return status, body, False

    @staticmethod
    def _params(request: Request) -> Params:
        if request.method in ("GET", "DELETE"):  # the SDK sends these in the query string
            return parse_params(request.args.items(multi=True))
        if request.content_length and request.mimetype != "application/x-www-form-urlencoded":
            raise ApiError(400, "Request bodies must be application/x-www-form-urlencoded.")
        return parse_params(request.form.items(multi=True))

    def _checkout_page(self, session_id: str) -> Response:
        """The page ``session.url`` points at, so a redirect in a test has somewhere to land."""
        with self._lock:
            session = self._objects["cs"].get(session_id)
            if session is None:
                return Response("No such checkout session", status=404, mimetype="text/plain")
            amount = f"{(session['amount_total'] or 0) / 100:.2f} EUR"
            success = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
            cancel = session["cancel_url"]
        page = (f"<!doctype html><title>Fake Stripe Checkout</title><h1>Fake Stripe Checkout</h1>"
                f"<p>Amount: {html.escape(amount)}</p>"
                f'<p><a href="{html.escape(success)}">Success</a> '
                f'<a href="{html.escape(cancel)}">Cancel</a></p>')
        return Response(page, mimetype="text/html")

    # endpoints: each takes the parsed params and returns (status, public body)

    def _api_create_session(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("mode", "line_items", "success_url", "cancel_url",
                                 "client_reference_id", "customer_email", "metadata",
                                 "payment_intent_data", "payment_method_types", "locale",
                                 "expires_at", "expand", "customer", "subscription_data",
                                 "setup_intent_data", "currency"))
        mode = _choice(_required(params, "mode", "mode"), ("payment", "subscription", "setup"),
                       "mode")
        if params.get("currency", "eur") != "eur":
            raise ApiError(400, "This server only supports currency=eur.", param="currency")
        urls = {}
        for name in ("success_url", "cancel_url"):
            url = _string(_required(params, name, name), name)
            if not re.match(r"^https?://\S+$", url):
                raise ApiError(400, "Not a valid URL", param=name, code="url_invalid")
            urls[name] = url
        reference = params.get("client_reference_id")
        if reference is not None and len(_string(reference, "client_reference_id")) > 200:
            raise ApiError(400, "client_reference_id must be at most 200 characters.",
                           param="client_reference_id", code="string_length_exceeded")
        email = params.get("customer_email")
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(email)):
            raise ApiError(400, f"Invalid email address: {email}", param="customer_email",
                           code="email_invalid")
        locale = params.get("locale")
        if locale is not None:
            _choice(locale, sorted(LOCALES), "locale")
        methods = [_string(m, "payment_method_types")
                   for m in _as_list(params.get("payment_method_types", []),
                                     "payment_method_types")]
        if mode != "payment":
            for method in methods:
                _choice(method, PAYMENT_METHOD_TYPES, "payment_method_types")
        now = self._now()
        expires_at = now + MAX_EXPIRY_SECONDS
        if "expires_at" in params:
            expires_at = _integer(params["expires_at"], "expires_at")
            if not now + MIN_EXPIRY_SECONDS <= expires_at <= now + MAX_EXPIRY_SECONDS:
                raise ApiError(400, "The `expires_at` timestamp must be at least 30 minutes "
                               "and at most 24 hours after Checkout Session creation.",
                               param="expires_at", code="parameter_invalid_integer")
        fields = (self._payment_session_fields(params) if mode == "payment"
                  else self._billing_session_fields(params, mode))
        session = self._create("cs", "checkout.session", {
            "mode": mode, "status": "open", "payment_status": "unpaid", "currency": "eur",
            "client_reference_id": reference, "customer_email": email,
            "metadata": _metadata(params.get("metadata"), "metadata"),
            "expires_at": expires_at, "payment_intent": None, "locale": locale,
            "payment_method_types": methods or ["card"], **urls, **fields,
        })
        session["url"] = f"{self.base_url}/c/pay/{session['id']}"
        return 200, self._public(session)

    def _payment_session_fields(self, params: Params) -> dict[str, Any]:
        """What only a payment-mode session has: ad-hoc ``price_data`` lines and the
        PaymentIntent's options."""
        for key in ("customer", "subscription_data", "setup_intent_data"):
            if key in params:
                raise ApiError(400, f"You can not pass `{key}` in `payment` mode on this "
                               "server.", param=key)
        items = _as_list(_required(params, "line_items", "line_items"), "line_items")
        line_items, total = [], 0
        for i, item in enumerate(items):
            line_items.append(self._line_item(item, f"line_items[{i}]"))
            total += line_items[-1]["amount_total"]
        pi_data = params.get("payment_intent_data", {})
        if not isinstance(pi_data, dict):
            raise ApiError(400, "Invalid object", param="payment_intent_data")
        _reject_unknown(pi_data, ("metadata", "capture_method", "description"),
                        "payment_intent_data")
        capture = _choice(pi_data.get("capture_method", "automatic"), ("automatic", "manual"),
                          "payment_intent_data[capture_method]")
        return {"amount_subtotal": total, "amount_total": total, "_line_items": line_items,
                "_capture_method": capture,
                "_pi_metadata": _metadata(pi_data.get("metadata"),
                                          "payment_intent_data[metadata]")}

    @staticmethod
    def _line_item(item: Any, param: str) -> dict[str, Any]:
        """One ``price_data`` line item, validated; returns it with its total."""
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid object", param=param)
        _reject_unknown(item, ("price_data", "quantity"), param)
        price = _required(item, "price_data", f"{param}[price_data]")
        if not isinstance(price, dict):
            raise ApiError(400, "Invalid object", param=f"{param}[price_data]")
        _reject_unknown(price, ("currency", "unit_amount", "product_data"),
                        f"{param}[price_data]")
        currency = _string(_required(price, "currency", f"{param}[price_data][currency]"),
                           f"{param}[price_data][currency]")
        if currency.lower() != "eur":
            raise ApiError(400, "This server only supports currency=eur.",
                           param=f"{param}[price_data][currency]")
        unit = _integer(_required(price, "unit_amount", f"{param}[price_data][unit_amount]"),
                        f"{param}[price_data][unit_amount]", minimum=1)
        product = _required(price, "product_data", f"{param}[price_data][product_data]")
        if not isinstance(product, dict):
            raise ApiError(400, "Invalid object", param=f"{param}[price_data][product_data]")
        _reject_unknown(product, ("name", "description"), f"{param}[price_data][product_data]")
        name = _string(_required(product, "name", f"{param}[price_data][product_data][name]"),
                       f"{param}[price_data][product_data][name]")
        quantity = _integer(_required(item, "quantity", f"{param}[quantity]"),
                            f"{param}[quantity]", minimum=1)
        return {"name": name, "description": product.get("description"), "unit_amount": unit,
                "quantity": quantity, "amount_total": unit * quantity}

    def _api_list_sessions(self, params: Params) -> tuple[int, dict[str, Any]]:
        """Newest first, filtered by ``created`` and ``status``; paged as Stripe pages."""
        _reject_unknown(params, ("created", "status", "limit", "starting_after", "expand"))
        status = params.get("status")
        if status is not None:
            _choice(status, ("open", "complete", "expired"), "status")
        sessions = [self._get_session(s["id"]) for s in list(self._objects["cs"].values())]
        sessions = [s for s in sessions if status is None or s["status"] == status]
        return 200, self._page(sessions, params, "/v1/checkout/sessions", "checkout.session")

    def _api_retrieve_session(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get_session(id))

    def _api_expire_session(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        session = self._get_session(id)
        if session["status"] != "open":
            raise ApiError(400, 'Only Checkout Sessions with a status in ["open"] can be expired.',
                           code="checkout_session_unexpected_state")
        self._expire(session)
        return 200, self._public(session)

    def _api_retrieve_pi(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("pi", id))

    def _api_capture_pi(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("amount_to_capture", "expand"))
        pi = self._get("pi", id)
        if pi["status"] != "requires_capture":
            raise self._unexpected_state(pi, "capture", ("requires_capture",))
        amount = None
        if "amount_to_capture" in params:
            raw = _string(params["amount_to_capture"], "amount_to_capture")
            if not raw.isdigit() or not 0 < int(raw) <= pi["amount_capturable"]:
                raise ApiError(400, "amount_to_capture must be between 1 and the amount "
                               "capturable.", param="amount_to_capture")
            amount = int(raw)
        self._succeed(pi, self._objects["ch"][pi["latest_charge"]], amount)
        return 200, self._public(pi)

    def _api_cancel_pi(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("cancellation_reason", "expand"))
        pi = self._get("pi", id)
        allowed = ("requires_payment_method", "requires_capture")
        if pi["status"] not in allowed:
            raise self._unexpected_state(pi, "cancel", allowed)
        reason = params.get("cancellation_reason")
        if reason is not None:
            _choice(reason, CANCELLATION_REASONS, "cancellation_reason")
        if pi["status"] == "requires_capture":  # the authorisation is released
            charge = self._objects["ch"][pi["latest_charge"]]
            charge.update(amount_refunded=charge["amount"], refunded=True)
        pi.update(status="canceled", cancellation_reason=reason, amount_capturable=0)
        self._record("payment_intent.canceled", pi)
        return 200, self._public(pi)

    @staticmethod
    def _unexpected_state(pi: dict[str, Any], action: str, allowed: Iterable[str]) -> ApiError:
        states = ", ".join(allowed)
        return ApiError(400, f"This PaymentIntent could not be {action}ed because it has a "
                        f"status of {pi['status']}. Only a PaymentIntent with one of the "
                        f"following statuses may be {action}ed: {states}.",
                        code="payment_intent_unexpected_state")

    def _api_retrieve_charge(self, params: Params, id: str) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("expand",))
        return 200, self._public(self._get("ch", id))

    def _api_create_refund(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("payment_intent", "charge", "amount", "reason", "metadata",
                                 "expand"))
        if "payment_intent" in params:
            pi = self._get("pi", params["payment_intent"])
            if "charge" in params and params["charge"] != pi["latest_charge"]:
                raise ApiError(400, "The charge does not belong to this PaymentIntent.",
                               param="charge")
        elif "charge" in params:
            pi = self._get("pi", self._get("ch", params["charge"])["payment_intent"])
        else:
            raise ApiError(400, "One of the following params should be provided for this "
                           "request: payment_intent or charge.", code="parameter_missing")
        charge = self._objects["ch"][pi["latest_charge"]] if pi["latest_charge"] else None
        if pi["status"] != "succeeded" or charge is None:
            raise ApiError(400, f"This PaymentIntent ({pi['id']}) does not have a successful "
                           "charge to refund.", param="payment_intent",
                           code="payment_intent_unexpected_state")
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise ApiError(400, f"Charge {charge['id']} has already been refunded.",
                           code="charge_already_refunded")
        amount = remaining
        if "amount" in params:
            amount = _integer(params["amount"], "amount", minimum=1)
            if amount > remaining:
                raise ApiError(400, f"Refund amount ({amount / 100:.2f} EUR) is greater than "
                               f"unrefunded amount on charge ({remaining / 100:.2f} EUR)",
                               param="amount")
        reason = params.get("reason")
        if reason is not None:
            _choice(reason, REFUND_REASONS, "reason")
        refund = self._create("re", "refund", {
            # Card refunds succeed at once (in test mode); async methods' refunds are
            # pending until settle_refund.
            "amount": amount, "currency": "eur",
            "status": "pending" if pi.get("_async") else "succeeded",
            "payment_intent": pi["id"], "charge": charge["id"], "reason": reason,
            "metadata": _metadata(params.get("metadata"), "metadata"),
        })
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._record("charge.refunded", charge)
        self._record("refund.created", refund)
        return 200, self._public(refund)

    def _api_list_refunds(self, params: Params) -> tuple[int, dict[str, Any]]:
        _reject_unknown(params, ("payment_intent", "charge", "limit", "expand"))
        limit = _integer(params.get("limit", "10"), "limit", minimum=1)
        if limit > 100:
            raise ApiError(400, "limit must be at most 100", param="limit")
        refunds = [r for r in self._objects["re"].values()
                   if all(params[f] == r[f] for f in ("payment_intent", "charge") if f in params)]
        refunds.reverse()  # dicts keep insertion order: newest first, as Stripe lists
        return 200, {"object": "list", "url": "/v1/refunds", "has_more": len(refunds) > limit,
                     "data": [self._public(r) for r in refunds[:limit]]}
