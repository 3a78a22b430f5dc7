"""The fake Stripe server, exercised through the real ``stripe`` SDK.

These tests pin down that the SDK accepts the server's answers (object types, error mapping,
idempotency headers), so app tests built on it fail for app reasons, not fake-server reasons.
They need no database: one server per module (per xdist worker), reset before each test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import stripe

from schiller40.core.time import FrozenClock

from .stripe_server import (
    API_VERSION,
    ControlError,
    StripeServer,
    parse_params,
    signed_headers,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
API_KEY = "sk_test_schiller40"


@pytest.fixture(scope="module")
def stripe_clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture(scope="module")
def module_server(stripe_clock: FrozenClock) -> Iterator[StripeServer]:
    with StripeServer(API_KEY, clock=stripe_clock) as server:
        yield server


@pytest.fixture
def server(module_server: StripeServer, stripe_clock: FrozenClock) -> StripeServer:
    module_server.reset()
    stripe_clock.set(NOW)
    return module_server


def make_client(server: StripeServer, *, api_key: str = API_KEY, retries: int = 0,
                timeout: float = 10) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": server.base_url},
                               max_network_retries=retries,
                               http_client=stripe.RequestsClient(timeout=timeout))


@pytest.fixture
def client(server: StripeServer) -> stripe.StripeClient:
    return make_client(server)


def session_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{
            "price_data": {"currency": "eur", "unit_amount": 1250,
                           "product_data": {"name": "Studio, 2 hours"}},
            "quantity": 2,
        }],
        "success_url": "https://book.example.org/paid?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://book.example.org/cancelled",
    }
    params.update(overrides)
    return params


def at(delta: timedelta) -> int:
    return int((NOW + delta).timestamp())


def paid_session(server: StripeServer, client: stripe.StripeClient,
                 **overrides: Any) -> tuple[str, str]:
    """A session the customer paid; returns (session id, payment intent id)."""
    session = client.v1.checkout.sessions.create(session_params(**overrides))
    done = server.complete_checkout(session.id)
    return session.id, done["payment_intent"]


# --- checkout sessions -----------------------------------------------------------------------

def test_create_with_all_params_and_retrieve_expanded(server, client):
    session = client.v1.checkout.sessions.create({
        **session_params(),
        "line_items": [
            {"price_data": {"currency": "eur", "unit_amount": 1250,
                            "product_data": {"name": "Studio", "description": "2 hours"}},
             "quantity": 2},
            {"price_data": {"currency": "eur", "unit_amount": 500,
                            "product_data": {"name": "Cleaning"}}, "quantity": 1},
        ],
        "client_reference_id": "booking-7",
        "customer_email": "mia@example.org",
        "metadata": {"booking_id": "7", "0": "numeric keys stay keys"},
        "payment_intent_data": {"metadata": {"booking_id": "7"}, "capture_method": "automatic"},
        "locale": "de",
        "expires_at": at(timedelta(hours=1)),
    })
    assert isinstance(session, stripe.checkout.Session)
    assert session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert session.amount_total == 3000 and session.currency == "eur"
    assert session.client_reference_id == "booking-7"
    assert session.customer_email == "mia@example.org"
    assert session.metadata.to_dict() == {"booking_id": "7", "0": "numeric keys stay keys"}
    assert session.expires_at == at(timedelta(hours=1))
    assert session.created == at(timedelta(0))
    assert session.url == f"{server.base_url}/c/pay/{session.id}"
    assert session.payment_intent is None
    assert session.id.startswith("cs_test_") and len(session.id) == len("cs_test_") + 24
    assert [item["name"] for item in server.line_items(session.id)] == ["Studio", "Cleaning"]

    server.complete_checkout(session.id)
    fetched = client.v1.checkout.sessions.retrieve(
        session.id, {"expand": ["payment_intent", "payment_intent.latest_charge"]})
    assert (fetched.status, fetched.payment_status) == ("complete", "paid")
    assert fetched.url is None  # Stripe only has a URL while the session is open
    intent = fetched.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 3000, 3000)
    assert intent.metadata.to_dict() == {"booking_id": "7"}
    assert isinstance(intent.latest_charge, stripe.Charge)
    assert intent.latest_charge.captured and intent.latest_charge.paid

    plain = client.v1.checkout.sessions.retrieve(session.id)
    assert plain.payment_intent == intent.id
    charge_id = client.v1.payment_intents.retrieve(intent.id).latest_charge
    assert charge_id == intent.latest_charge.id
    assert client.v1.payment_intents.retrieve(
        intent.id, {"expand": ["latest_charge"]}).latest_charge.id == charge_id


def test_default_expiry_is_a_day_by_the_server_clock(server, client):
    session = client.v1.checkout.sessions.create(session_params())
    assert session.expires_at == at(timedelta(hours=24))


@pytest.mark.parametrize(("change", "param"), [
    ({"mode": "installments"}, "mode"),
    ({"mode": None}, "mode"),
    ({"success_url": None}, "success_url"),
    ({"cancel_url": "not a url"}, "cancel_url"),
    ({"line_items": None}, "line_items"),
    ({"line_items": [{"price_data": {"currency": "usd", "unit_amount": 100,
                                     "product_data": {"name": "x"}}, "quantity": 1}]},
     "line_items[0][price_data][currency]"),
    ({"line_items": [{"price_data": {"currency": "eur", "unit_amount": 0,
                                     "product_data": {"name": "x"}}, "quantity": 1}]},
     "line_items[0][price_data][unit_amount]"),
    ({"line_items": [{"price_data": {"currency": "eur", "unit_amount": 100,
                                     "product_data": {"name": ""}}, "quantity": 1}]},
     "line_items[0][price_data][product_data][name]"),
    ({"line_items": [{"price_data": {"currency": "eur", "unit_amount": 100,
                                     "product_data": {"name": "x"}}, "quantity": 0}]},
     "line_items[0][quantity]"),
    ({"client_reference_id": "x" * 201}, "client_reference_id"),
    ({"customer_email": "nobody"}, "customer_email"),
    ({"expires_at": at(timedelta(minutes=29))}, "expires_at"),
    ({"expires_at": at(timedelta(hours=24, seconds=1))}, "expires_at"),
    ({"payment_intent_data": {"capture_method": "later"}},
     "payment_intent_data[capture_method]"),
    ({"locale": "xx"}, "locale"),
    ({"shipping": "yes"}, "shipping"),
])
def test_invalid_session_params_raise_invalid_request_error(server, client, change, param):
    params = {k: v for k, v in session_params(**change).items() if v is not None}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params)
    assert raised.value.http_status == 400
    assert raised.value.param == param
    assert server.created_count("checkout.session") == 0


def test_expiry_window_edges_are_accepted(server, client):
    for delta in (timedelta(minutes=30), timedelta(hours=24)):
        client.v1.checkout.sessions.create(session_params(expires_at=at(delta)))
    assert server.created_count("checkout.session") == 2


def test_unknown_session_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "id"
    assert "No such checkout.session: 'cs_test_nope'" in str(raised.value)


def test_wrong_api_key_is_an_authentication_error(server):
    with pytest.raises(stripe.AuthenticationError):
        make_client(server, api_key="sk_test_wrong").v1.checkout.sessions.create(session_params())
    assert server.created_count("checkout.session") == 0


def test_session_expires_when_the_clock_passes_expires_at(server, client, stripe_clock):
    session = client.v1.checkout.sessions.create(
        session_params(expires_at=at(timedelta(minutes=30))))
    stripe_clock.advance(timedelta(minutes=29, seconds=59))
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    stripe_clock.advance(timedelta(seconds=1))
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    [event] = server.events_of_type("checkout.session.expired")
    assert event["data"]["object"]["id"] == session.id
    assert event["created"] == at(timedelta(minutes=30))
    with pytest.raises(ControlError):
        server.complete_checkout(session.id)


def test_expire_due_expires_without_a_read(server, client, stripe_clock):
    session = client.v1.checkout.sessions.create(session_params())
    stripe_clock.advance(timedelta(hours=25))
    assert server.expire_due() == [session.id]
    assert server.expire_due() == []
    assert len(server.events_of_type("checkout.session.expired")) == 1


def test_list_sessions_newest_first_by_creation_time_and_status_in_pages(
    server, client, stripe_clock
):
    first = client.v1.checkout.sessions.create(session_params())
    stripe_clock.advance(timedelta(minutes=10))
    second = client.v1.checkout.sessions.create(session_params())
    third = client.v1.checkout.sessions.create(session_params())
    client.v1.checkout.sessions.expire(third.id)
    listed = client.v1.checkout.sessions.list({"created": {"gte": at(timedelta(minutes=5))}})
    assert [s.id for s in listed.data] == [third.id, second.id]
    opened = client.v1.checkout.sessions.list({"status": "open"})
    assert [s.id for s in opened.data] == [second.id, first.id]
    page = client.v1.checkout.sessions.list({"limit": 1})
    assert page.has_more and [s.id for s in page.data] == [third.id]
    rest = client.v1.checkout.sessions.list({"limit": 2, "starting_after": third.id})
    assert not rest.has_more and [s.id for s in rest.data] == [second.id, first.id]


def test_a_delay_for_one_path_slows_only_that_path(server, stripe_clock):
    slow = make_client(server, timeout=0.2)
    server.delay("/v1/checkout/sessions", 0.6)
    with pytest.raises(stripe.APIConnectionError):
        slow.v1.checkout.sessions.create(session_params())
    server.delay("/v1/checkout/sessions", 0)
    assert server.created_count("checkout.session") == 1  # the request did happen
    server.delay("/v1/refunds", 0.6)
    assert slow.v1.checkout.sessions.create(session_params()).status == "open"
    server.delay("/v1/refunds", 0)


def test_expire_via_api_then_again_fails(server, client):
    session = client.v1.checkout.sessions.create(session_params())
    expired = client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    assert len(server.events_of_type("checkout.session.expired")) == 1
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.expire(session.id)
    assert "can be expired" in str(raised.value)
    assert raised.value.code == "checkout_session_unexpected_state"


def test_expire_of_a_completed_session_fails(server, client):
    session_id, _ = paid_session(server, client)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session_id)
    assert client.v1.checkout.sessions.retrieve(session_id).status == "complete"


def test_payment_racing_the_expiry_needs_force(server, client):
    session = client.v1.checkout.sessions.create(session_params())
    server.expire_checkout(session.id)
    with pytest.raises(ControlError):
        server.complete_checkout(session.id)
    done = server.complete_checkout(session.id, force=True)
    assert (done["status"], done["payment_status"]) == ("complete", "paid")
    with pytest.raises(ControlError):
        server.complete_checkout(session.id, force=True)


# --- idempotency -----------------------------------------------------------------------------

def test_same_key_same_params_replays(server, client):
    options: stripe.RequestOptions = {"idempotency_key": "booking-7-checkout"}
    first = client.v1.checkout.sessions.create(session_params(), options)
    second = client.v1.checkout.sessions.create(session_params(), options)
    assert second.id == first.id
    assert server.created_count("checkout.session") == 1
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [(r.idempotency_key, r.replayed) for r in server.request_log] == [
        ("booking-7-checkout", False), ("booking-7-checkout", True)]


def test_same_key_other_params_or_path_is_an_idempotency_error(server, client):
    options: stripe.RequestOptions = {"idempotency_key": "k1"}
    session = client.v1.checkout.sessions.create(session_params(), options)
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(session_params(client_reference_id="other"), options)
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.expire(session.id, options=options)
    assert server.created_count("checkout.session") == 1
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_failed_requests_are_not_stored_under_their_key(server, client):
    options: stripe.RequestOptions = {"idempotency_key": "k2"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(session_params(mode="setup"), options)
    client.v1.checkout.sessions.create(session_params(mode="setup") | {"mode": "payment"},
                                       options)
    assert server.created_count("checkout.session") == 1


# --- payment intents -------------------------------------------------------------------------

def test_manual_capture(server, client):
    session_id, pi_id = paid_session(
        server, client, payment_intent_data={"capture_method": "manual"})
    assert server.session(session_id)["payment_status"] == "unpaid"
    intent = client.v1.payment_intents.retrieve(pi_id, {"expand": ["latest_charge"]})
    assert (intent.status, intent.capture_method) == ("requires_capture", "manual")
    assert (intent.amount_capturable, intent.amount_received) == (2500, 0)
    assert not intent.latest_charge.captured

    captured = client.v1.payment_intents.capture(pi_id)
    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        "succeeded", 2500, 0)
    charge = client.v1.charges.retrieve(captured.latest_charge)
    assert (charge.captured, charge.amount_captured) == (True, 2500)
    assert [e["type"] for e in server.events] == [
        "payment_intent.amount_capturable_updated", "checkout.session.completed",
        "payment_intent.succeeded"]

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(pi_id)
    assert raised.value.code == "payment_intent_unexpected_state"


def test_cancel_an_authorisation(server, client):
    _, pi_id = paid_session(server, client, payment_intent_data={"capture_method": "manual"})
    canceled = client.v1.payment_intents.cancel(pi_id, {"cancellation_reason": "abandoned"})
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    assert server.events_of_type("payment_intent.canceled")[0]["data"]["object"]["id"] == pi_id
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.cancel(pi_id)
    assert raised.value.code == "payment_intent_unexpected_state"


def test_cancel_refused_while_processing_or_after_success(server, client):
    session = client.v1.checkout.sessions.create(session_params())
    processing = server.complete_checkout(session.id, outcome="processing")["payment_intent"]
    _, succeeded = paid_session(server, client)
    for pi_id in (processing, succeeded):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.payment_intents.cancel(pi_id)
        assert raised.value.code == "payment_intent_unexpected_state"


def test_async_payment_succeeds(server, client):
    session = client.v1.checkout.sessions.create(session_params())
    done = server.complete_checkout(session.id, outcome="processing")
    assert (done["status"], done["payment_status"]) == ("complete", "unpaid")
    pi_id = done["payment_intent"]
    assert client.v1.payment_intents.retrieve(pi_id).status == "processing"

    server.finish_async(pi_id, succeeded=True)
    assert client.v1.payment_intents.retrieve(pi_id).status == "succeeded"
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
    [event] = server.events_of_type("checkout.session.async_payment_succeeded")
    assert event["data"]["object"]["payment_status"] == "paid"
    with pytest.raises(ControlError):
        server.finish_async(pi_id, succeeded=True)


def test_async_payment_fails(server, client):
    session = client.v1.checkout.sessions.create(session_params())
    pi_id = server.complete_checkout(session.id, outcome="processing")["payment_intent"]
    server.finish_async(pi_id, succeeded=False)
    assert client.v1.payment_intents.retrieve(pi_id).status == "requires_payment_method"
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "unpaid"
    assert len(server.events_of_type("checkout.session.async_payment_failed")) == 1
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create({"payment_intent": pi_id})


# --- refunds ---------------------------------------------------------------------------------

def test_partial_then_full_refund_then_over_refund(server, client, stripe_clock):
    _, pi_id = paid_session(server, client)
    part = client.v1.refunds.create({"payment_intent": pi_id, "amount": 1000,
                                     "reason": "requested_by_customer",
                                     "metadata": {"booking_id": "7"}})
    assert isinstance(part, stripe.Refund)
    assert (part.amount, part.status, part.currency, part.reason) == (
        1000, "succeeded", "eur", "requested_by_customer")
    assert part.metadata.to_dict() == {"booking_id": "7"}
    charge = client.v1.charges.retrieve(part.charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, False)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create({"payment_intent": pi_id, "amount": 1501})
    assert raised.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create({"payment_intent": pi_id, "amount": 0})
    assert raised.value.param == "amount"

    stripe_clock.advance(timedelta(minutes=5))
    rest = client.v1.refunds.create({"charge": charge.id})
    assert rest.amount == 1500 and rest.payment_intent == pi_id
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (2500, True)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create({"payment_intent": pi_id})
    assert raised.value.code == "charge_already_refunded"

    assert server.created_count("refund") == 2
    refunded = server.events_of_type("charge.refunded")
    assert [e["data"]["object"]["amount_refunded"] for e in refunded] == [1000, 2500]
    assert len(server.events_of_type("refund.created")) == 2

    listed = client.v1.refunds.list({"payment_intent": pi_id, "limit": 10})
    assert [r.id for r in listed.data] == [rest.id, part.id]
    assert listed.has_more is False
    first = client.v1.refunds.list({"payment_intent": pi_id, "limit": 1})
    assert [r.id for r in first.data] == [rest.id] and first.has_more is True
    _, other = paid_session(server, client)
    assert client.v1.refunds.list({"payment_intent": other}).data == []


def test_refund_of_an_uncaptured_payment_is_refused(server, client):
    _, pi_id = paid_session(server, client, payment_intent_data={"capture_method": "manual"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create({"payment_intent": pi_id})
    assert server.created_count("refund") == 0


# --- events ----------------------------------------------------------------------------------

def test_events_are_snapshots_in_stripe_shape(server, client):
    session_id, pi_id = paid_session(server, client, metadata={"booking_id": "7"})
    client.v1.refunds.create({"payment_intent": pi_id})
    [completed] = server.events_of_type("checkout.session.completed")
    assert completed["id"].startswith("evt_")
    assert completed["object"] == "event"
    assert (completed["api_version"], completed["livemode"]) == (API_VERSION, False)
    assert completed["created"] == at(timedelta(0))
    snapshot = completed["data"]["object"]
    assert snapshot["id"] == session_id and snapshot["payment_intent"] == pi_id
    assert snapshot["metadata"] == {"booking_id": "7"}
    assert not any(key.startswith("_") for key in snapshot)
    [succeeded] = server.events_of_type("payment_intent.succeeded")
    assert succeeded["data"]["object"]["latest_charge"]  # an id, not expanded

    event = stripe.Webhook.construct_event(
        json.dumps(completed), signed_headers(json.dumps(completed), "whsec_x")[
            "Stripe-Signature"], "whsec_x")
    assert event.type == "checkout.session.completed"
    assert event.data.object.id == session_id

    server.clear_events()
    assert server.events == []


# --- faults ----------------------------------------------------------------------------------

def test_fail_next_gives_api_errors_then_recovers(server, client):
    server.fail_next(2)
    for _ in range(2):
        with pytest.raises(stripe.APIError) as raised:
            client.v1.checkout.sessions.create(session_params())
        assert raised.value.http_status == 500
    client.v1.checkout.sessions.create(session_params())
    assert server.created_count("checkout.session") == 1
    assert [r.status for r in server.request_log] == [500, 500, 200]


def test_sdk_retries_with_the_same_idempotency_key(server, monkeypatch):
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.0)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.0)
    server.fail_next(1, status=503)
    session = make_client(server, retries=2).v1.checkout.sessions.create(session_params())
    assert session.status == "open"
    keys = [r.idempotency_key for r in server.request_log]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]


def test_rate_limit_maps_to_rate_limit_error(server, client):
    server.fail_next(1, status=429)
    with pytest.raises(stripe.RateLimitError):
        client.v1.checkout.sessions.create(session_params())


def test_down_answers_503(server, client):
    session = client.v1.checkout.sessions.create(session_params())
    server.down = True
    with pytest.raises(stripe.APIError) as raised:
        client.v1.checkout.sessions.retrieve(session.id)
    assert raised.value.http_status == 503
    server.down = False
    assert client.v1.checkout.sessions.retrieve(session.id).id == session.id


def test_timeout_raises_connection_error_but_the_request_happened(server):
    client = make_client(server, timeout=0.2)
    server.delay_seconds = 0.6
    options: stripe.RequestOptions = {"idempotency_key": "slow"}
    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.create(session_params(), options)
    server.delay_seconds = 0
    assert server.created_count("checkout.session") == 1
    retried = make_client(server).v1.checkout.sessions.create(session_params(), options)
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert server.created_count("checkout.session") == 1


def test_unknown_url_is_an_invalid_request(server, client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_1")
    assert raised.value.http_status == 404


# --- helpers ---------------------------------------------------------------------------------

def test_signed_headers_verify_with_the_sdk():
    payload = json.dumps({"id": "evt_1", "object": "event"})
    headers = signed_headers(payload, "whsec_test", timestamp=at(timedelta(0)))
    assert headers["Content-Type"] == "application/json"
    assert stripe.WebhookSignature.verify_header(payload, headers["Stripe-Signature"],
                                                 "whsec_test")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload, headers["Stripe-Signature"], "whsec_x")
    fresh = signed_headers(payload, "whsec_test")
    assert stripe.WebhookSignature.verify_header(payload, fresh["Stripe-Signature"],
                                                 "whsec_test", tolerance=300)


def test_parse_params_bracket_notation():
    pairs = [("line_items[0][price_data][product_data][name]", "Desk"),
             ("line_items[0][quantity]", "1"), ("metadata[booking_id]", "7"),
             ("expand[]", "payment_intent"), ("expand[]", "payment_intent.latest_charge"),
             ("payment_intent_data[capture_method]", "manual")]
    assert parse_params(pairs) == {
        "line_items": {"0": {"price_data": {"product_data": {"name": "Desk"}},
                             "quantity": "1"}},
        "metadata": {"booking_id": "7"},
        "expand": ["payment_intent", "payment_intent.latest_charge"],
        "payment_intent_data": {"capture_method": "manual"},
    }


def test_expand_with_empty_brackets_over_the_wire(server, client):
    session_id, pi_id = paid_session(server, client)
    response = requests.get(
        f"{server.base_url}/v1/checkout/sessions/{session_id}"
        "?expand[]=payment_intent&expand[]=payment_intent.latest_charge",
        headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
    body = response.json()
    assert body["payment_intent"]["id"] == pi_id
    assert body["payment_intent"]["latest_charge"]["object"] == "charge"
    bad = requests.get(f"{server.base_url}/v1/checkout/sessions/{session_id}?expand[]=customer",
                       headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "expand"


def test_checkout_page_needs_no_auth(server, client):
    session = client.v1.checkout.sessions.create(session_params())
    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200
    assert "Fake Stripe Checkout" in page.text and "25.00 EUR" in page.text
    assert requests.get(f"{server.base_url}/c/pay/cs_nope", timeout=5).status_code == 404
