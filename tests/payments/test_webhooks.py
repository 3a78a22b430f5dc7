"""``POST /webhooks/stripe``: signed as Stripe signs, replayed, reordered, late, for objects
that are not ours, and while Stripe cannot be reached for the re-fetch."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import stripe
from flask.testing import FlaskClient

from schiller40.booking.models import BookingStatus
from schiller40.extensions import db
from schiller40.payments.models import (
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    WebhookEvent,
)
from tests.helpers import book_via_api

from . import test_stripe_flow as flow
from .conftest import WEBHOOK, WEBHOOK_SECRET, deliver, deliver_all
from .stripe_server import StripeServer, signed_headers
from .test_stripe_flow import (
    BOOKINGS,
    at_once,
    booking_row,
    charge_of,
    pay,
    payment_of,
    rows,
    shown,
    snapshot,
)

app_config = flow.app_config  # Stripe through the local server, not the simulated default


def last_event(server: StripeServer, type_: str) -> dict:
    events = server.events_of_type(type_)
    assert events, f"Stripe sent no {type_}"
    return events[-1]


def session_event(server: StripeServer, type_: str, checkout_id: str, event_id: str) -> dict:
    """An event for a checkout as Stripe would send it (payload as the session is now)."""
    return {"id": event_id, "object": "event", "type": type_,
            "data": {"object": server.session(checkout_id)}}


@pytest.fixture
def completed(api_as, place, stripe_server):
    """A held room booking the member has just paid at Stripe; no webhook delivered yet."""
    booking = book_via_api(api_as(place.member))
    stripe_server.clear_events()
    stripe_server.complete_checkout(payment_of(booking["id"]).checkout_id)
    return booking, last_event(stripe_server, "checkout.session.completed")


@pytest.fixture
def paid_room(client, api_as, place, stripe_server):
    """A room booking, paid, its webhooks delivered."""
    booking = book_via_api(api_as(place.member))
    return booking, pay(client, stripe_server, booking["id"])


# --- the signature -------------------------------------------------------------------------


def test_a_signed_event_is_applied(client, completed):
    booking, event = completed
    response = deliver(client, event)
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "result": "handled"}
    assert booking_row(booking["id"]).status is BookingStatus.CONFIRMED
    stored = db.session.get(WebhookEvent, event["id"])
    assert (stored.type, stored.payment_id) == (
        "checkout.session.completed", payment_of(booking["id"]).id
    )


def unsigned_deliveries(event: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """Every way a delivery can fail to be Stripe's: body and headers by name."""
    body = json.dumps(event)
    tampered = body.replace('"status": "complete"', '"status": "open"')
    assert tampered != body
    return {
        "tampered body": (tampered, signed_headers(body, WEBHOOK_SECRET)),
        "wrong secret": (body, signed_headers(body, "whsec_someone_else")),
        "stale timestamp": (body, signed_headers(body, WEBHOOK_SECRET,
                                                 int(time.time()) - 600)),
        "missing header": (body, {"Content-Type": "application/json"}),
        "garbage header": (body, {"Stripe-Signature": "t=1,v1=00"}),
        "not utf-8": (body.encode() + b"\xff", signed_headers(body, WEBHOOK_SECRET)),
    }


def test_a_delivery_not_signed_by_stripe_is_refused_and_changes_nothing(client, completed):
    _, event = completed
    before = snapshot()
    for case, (body, headers) in unsigned_deliveries(event).items():
        response = client.post(WEBHOOK, data=body, headers=headers)
        assert response.status_code == 400, case
        assert response.get_json()["error"]["code"] == "bad_signature", case
    assert snapshot() == before
    assert rows(WebhookEvent) == 0
    # The genuine delivery still works afterwards.
    assert deliver(client, event).get_json()["result"] == "handled"


NOT_EVENTS = {
    "not json": "not json",
    "array": "[1, 2]",
    "string": '"evt_1"',
    "no object": '{"id": "evt_1", "type": "checkout.session.completed"}',
    "no type": '{"id": "evt_1", "data": {"object": {"id": "cs_1"}}}',
    "object not an object": '{"id": "evt_1", "type": "x.y", "data": {"object": "cs_1"}}',
    "object id not a string": '{"id": "evt_1", "type": "x.y", "data": {"object": {"id": 7}}}',
}


def test_a_signed_body_that_is_not_an_event_is_refused(client, completed):
    before = snapshot()
    for case, body in NOT_EVENTS.items():
        response = deliver(client, {}, body=body)
        assert response.status_code == 400, case
        assert response.get_json()["error"]["code"] == "invalid", case
    assert snapshot() == before


def test_the_webhook_is_not_found_when_stripe_is_not_configured(app, client, completed):
    app.config["PAYMENT_PROVIDER"] = "simulated"
    _, event = completed
    assert deliver(client, event).status_code == 404


# --- replays and order ---------------------------------------------------------------------


def test_a_replayed_event_does_nothing_twice(client, completed):
    booking, event = completed
    assert deliver(client, event).get_json()["result"] == "handled"
    after_first = snapshot()
    again = deliver(client, event)
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert snapshot() == after_first
    assert booking_row(booking["id"]).sequence == after_first[1][0][2]


def test_every_event_of_a_payment_in_reverse_order_ends_paid(client, completed, stripe_server):
    booking, _ = completed
    answers = [deliver(client, e) for e in reversed(stripe_server.events)]
    assert [a.get_json()["result"] for a in answers] == ["handled"] * len(answers)
    assert payment_of(booking["id"]).status is PaymentStatus.PAID
    assert booking_row(booking["id"]).status is BookingStatus.CONFIRMED


def test_an_expired_event_after_the_completed_one_leaves_the_booking_paid(
    client, completed, stripe_server
):
    booking, event = completed
    deliver(client, event)
    checkout_id = payment_of(booking["id"]).checkout_id
    stale = session_event(stripe_server, "checkout.session.expired", checkout_id, "evt_stale")
    stale["data"]["object"]["status"] = "expired"  # what it said when Stripe wrote it
    before = snapshot()
    assert deliver(client, stale).get_json()["result"] == "handled"
    after = snapshot()
    assert after[:3] == before[:3] and after[3] == before[3] + 1
    assert payment_of(booking["id"]).status is PaymentStatus.PAID


def test_a_completed_event_before_we_stored_the_checkout_finds_the_payment(
    client, completed
):
    """We crashed after Stripe opened the checkout and before we wrote its id: the event's
    metadata names our payment."""
    booking, event = completed
    payment = payment_of(booking["id"])
    payment.checkout_id = payment.checkout_url = None
    db.session.commit()
    assert deliver(client, event).get_json()["result"] == "handled"
    payment = payment_of(booking["id"])
    assert payment.checkout_id == event["data"]["object"]["id"]
    assert payment.status is PaymentStatus.PAID


def test_a_payment_completed_after_the_checkout_expired_is_refunded_in_full(
    client, api_as, place, stripe_server, clock
):
    api = api_as(place.member)
    booking = book_via_api(api)
    payment = payment_of(booking["id"])
    clock.advance(timedelta(minutes=31))
    stripe_server.expire_due()
    deliver_all(client, stripe_server, "checkout.session.expired")
    assert payment_of(booking["id"]).status is PaymentStatus.EXPIRED
    assert booking_row(booking["id"]).status is BookingStatus.EXPIRED
    # Stripe raced the expiry: the money arrives anyway.
    stripe_server.clear_events()
    stripe_server.complete_checkout(payment.checkout_id, force=True)
    answer = deliver(client, last_event(stripe_server, "checkout.session.completed"))
    assert answer.get_json()["result"] == "handled"
    payment = payment_of(booking["id"])
    assert (payment.status, payment.received_cents, payment.refunded_cents) == (
        PaymentStatus.PAID, 1200, 1200
    )
    assert booking_row(booking["id"]).status is BookingStatus.EXPIRED
    refund = db.session.query(Refund).one()
    assert (refund.reason, refund.amount_cents, refund.status) == (
        RefundReason.LATE_PAYMENT, 1200, RefundStatus.SUCCEEDED
    )
    assert refund.booking_id == booking["id"] and refund.provider_refund_id
    assert charge_of(stripe_server, payment)["amount_refunded"] == 1200
    assert stripe_server.created_count("refund") == 1
    seen = shown(api, booking["id"])
    assert seen["status"] == "expired" and seen["payment"]["refunded_cents"] == 1200
    # The rest of Stripe's events (the intent, our refund) change nothing more.
    before = snapshot()
    assert {a.status_code for a in deliver_all(client, stripe_server)} == {200}
    assert snapshot()[:3] == before[:3]


# --- slow payment methods ------------------------------------------------------------------


def test_an_async_payment_holds_the_slot_until_it_succeeds(
    client, api_as, place, stripe_server, clock, other_member
):
    api = api_as(place.member)
    booking = book_via_api(api)
    payment = pay(client, stripe_server, booking["id"], outcome="processing")
    assert payment.status is PaymentStatus.PROCESSING
    seen = shown(api, booking["id"])
    assert (seen["status"], seen["payment"]["status"]) == ("held", "processing")
    # A SEPA debit takes days; the reservation must not run out meanwhile.
    clock.advance(timedelta(hours=20))
    assert shown(api, booking["id"])["status"] == "held"
    taken = api_as(other_member).post(
        BOOKINGS, json={"resource": "room", "start": booking["start"], "end": booking["end"]}
    )
    assert taken.status_code == 409
    stripe_server.clear_events()
    stripe_server.finish_async(payment.payment_intent_id, succeeded=True)
    answer = deliver(client, last_event(stripe_server, "checkout.session.async_payment_succeeded"))
    assert answer.get_json()["result"] == "handled"
    assert shown(api, booking["id"])["status"] == "confirmed"
    payment = payment_of(booking["id"])
    assert (payment.status, payment.received_cents) == (PaymentStatus.PAID, 1200)
    assert rows(Refund) == 0


def test_a_failed_async_payment_releases_the_slot(
    client, api_as, place, stripe_server, other_member
):
    api = api_as(place.member)
    booking = book_via_api(api)
    payment = pay(client, stripe_server, booking["id"], outcome="processing")
    stripe_server.clear_events()
    stripe_server.finish_async(payment.payment_intent_id, succeeded=False)
    answer = deliver(client, last_event(stripe_server, "checkout.session.async_payment_failed"))
    assert answer.get_json()["result"] == "handled"
    assert payment_of(booking["id"]).status is PaymentStatus.FAILED
    assert shown(api, booking["id"])["status"] == "expired"
    # Somebody else may have the slot now.
    taken = api_as(other_member).post(
        BOOKINGS, json={"resource": "room", "start": booking["start"], "end": booking["end"]}
    )
    assert taken.status_code == 201


def test_money_that_arrives_for_a_booking_cancelled_meanwhile_goes_back_in_full(
    client, api_as, place, stripe_server
):
    """Cancelled a day ahead while the SEPA debit was on its way: the policy would keep half,
    but nothing had arrived to keep; when it arrives it goes back in full."""
    api = api_as(place.member)
    booking = book_via_api(api)  # Tuesday 10:00, 25 hours ahead: the policy refunds 50 %
    payment = pay(client, stripe_server, booking["id"], outcome="processing")
    quote = api.get(f"{BOOKINGS}/{booking['id']}/cancellation").get_json()
    assert (quote["payment_state"], quote["refund_cents"]) == ("pending", 0)
    cancelled = api.post(f"{BOOKINGS}/{booking['id']}/cancel").get_json()
    assert cancelled["booking"]["status"] == "cancelled" and cancelled["refund"] is None
    stripe_server.clear_events()
    stripe_server.finish_async(payment.payment_intent_id, succeeded=True)
    deliver_all(client, stripe_server, "checkout.session.async_payment_succeeded")
    refund = db.session.query(Refund).one()
    assert (refund.reason, refund.amount_cents) == (RefundReason.LATE_PAYMENT, 1200)
    assert stripe_server.created_count("refund") == 1
    # A SEPA refund goes back by bank transfer: pending at Stripe until it lands.
    assert refund.status is RefundStatus.PENDING
    assert shown(api, booking["id"])["payment"]["refunded_cents"] == 0
    stripe_server.clear_events()
    stripe_server.settle_refund(refund.provider_refund_id)
    answers = deliver_all(client, stripe_server)
    assert [a.get_json()["result"] for a in answers] == ["handled", "handled"]
    assert db.session.get(Refund, refund.id).status is RefundStatus.SUCCEEDED
    assert shown(api, booking["id"])["payment"]["refunded_cents"] == 1200
    assert stripe_server.created_count("refund") == 1


def test_the_same_event_delivered_twice_at_once_is_applied_once(app, completed):
    booking, event = completed
    sequence = booking_row(booking["id"]).sequence
    body = json.dumps(event)

    def post() -> tuple[int, str]:
        client = FlaskClient(app, app.response_class)  # its own context, as under gunicorn
        response = client.post(WEBHOOK, data=body, headers=signed_headers(body, WEBHOOK_SECRET))
        return response.status_code, response.get_json()["result"]

    assert sorted(at_once(post)) == [(200, "duplicate"), (200, "handled")]
    assert rows(WebhookEvent) == 1
    assert booking_row(booking["id"]).status is BookingStatus.CONFIRMED
    assert booking_row(booking["id"]).sequence == sequence + 1  # confirmed once


# --- refunds made at Stripe, objects that are not ours ---------------------------------------


def stripe_client(server: StripeServer) -> stripe.StripeClient:
    """What someone with the dashboard (or another integration) does, through the SDK."""
    return stripe.StripeClient(server.api_key, base_addresses={"api": server.base_url},
                               max_network_retries=0)


def test_a_refund_made_in_the_stripe_dashboard_is_recorded(
    client, api_as, place, stripe_server
):
    api = api_as(place.member)
    booking = book_via_api(api)
    payment = pay(client, stripe_server, booking["id"])
    stripe_server.clear_events()
    made = stripe_client(stripe_server).v1.refunds.create(
        params={"payment_intent": payment.payment_intent_id, "amount": 400}
    )
    answer = deliver(client, last_event(stripe_server, "charge.refunded"))
    assert answer.get_json()["result"] == "handled"
    refund = db.session.query(Refund).one()
    assert (refund.reason, refund.amount_cents, refund.status, refund.provider_refund_id) == (
        RefundReason.EXTERNAL, 400, RefundStatus.SUCCEEDED, made.id
    )
    assert payment_of(booking["id"]).refunded_cents == 400
    assert shown(api, booking["id"])["payment"]["refunded_cents"] == 400
    # Stripe also says refund.created; neither it nor a replay records the refund twice.
    deliver_all(client, stripe_server)
    assert rows(Refund) == 1


def test_events_for_objects_that_are_not_ours_are_ignored(client, place, stripe_server):
    other = stripe_client(stripe_server)
    session = other.v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "https://shop.example.org/ok",
        "cancel_url": "https://shop.example.org/no",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "eur", "unit_amount": 990, "product_data": {"name": "Mug"}}}],
    })
    stripe_server.complete_checkout(session.id)
    other.v1.refunds.create(params={"payment_intent": stripe_server.session(session.id)[
        "payment_intent"], "amount": 100})
    before = snapshot()
    answers = deliver_all(client, stripe_server)
    assert len(answers) >= 4
    assert {a.get_json()["result"] for a in answers} == {"ignored"}
    after = snapshot()
    assert after[:3] == before[:3] and after[3] == len(answers)
    # A replay of an ignored event is a duplicate, answered without asking Stripe.
    asked = len(stripe_server.request_log)
    assert deliver(client, stripe_server.events[0]).get_json()["result"] == "duplicate"
    assert len(stripe_server.request_log) == asked


def test_stripe_unreachable_while_handling_asks_for_a_retry(client, completed, stripe_server):
    booking, event = completed
    before = snapshot()
    stripe_server.down = True
    response = deliver(client, event)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert snapshot() == before
    assert db.session.get(WebhookEvent, event["id"]) is None
    # Stripe retries later: now it works.
    stripe_server.down = False
    assert deliver(client, event).get_json()["result"] == "handled"
    assert booking_row(booking["id"]).status is BookingStatus.CONFIRMED


def test_events_for_objects_stripe_does_not_know_are_ignored_and_logged(
    client, paid_room, stripe_server, caplog
):
    """Stripe answers 404 for the event's object (deleted, of another mode, never ours): that
    does not change on a retry, so the answer is 200 "ignored", not a 503 that Stripe would
    retry for three days. It is logged, recorded, and a replay asks Stripe nothing."""
    before = snapshot()
    for type_, obj in [
        ("checkout.session.completed", {"id": "cs_test_gone", "object": "checkout.session"}),
        ("charge.succeeded", {"id": "ch_test_gone", "object": "charge"}),
    ]:
        event = {"id": f"evt_gone_{type_}", "type": type_, "data": {"object": obj}}
        caplog.clear()
        with caplog.at_level("WARNING", logger="schiller40.payments"):
            response = deliver(client, event)
        assert response.status_code == 200, (type_, response.get_json())
        assert response.get_json() == {"received": True, "result": "ignored"}, type_
        assert any(obj["id"] in r.getMessage() and "ignored" in r.getMessage()
                   for r in caplog.records), type_
        assert db.session.get(WebhookEvent, event["id"]) is not None
        asked = len(stripe_server.request_log)
        assert deliver(client, event).get_json()["result"] == "duplicate"
        assert len(stripe_server.request_log) == asked
    assert snapshot()[:3] == before[:3]


def test_event_types_we_do_not_act_on_are_ignored(client, paid_room, stripe_server):
    """A "charge.*" event is not always about a charge: disputes and refunds have their own
    ids, which Stripe does not know as charges. Answering 503 would make Stripe retry for
    days and then switch the endpoint off."""
    _, payment = paid_room
    ours = {"charge": charge_of(stripe_server, payment)["id"],
            "payment_intent": payment.payment_intent_id}
    before = snapshot()
    for type_, obj in [
        ("charge.dispute.created", {"id": "dp_test_1", "object": "dispute", **ours}),
        ("charge.refund.updated", {"id": "re_test_1", "object": "refund", **ours}),
        ("refund.updated", {"id": "re_test_1", "object": "refund", **ours}),
        ("customer.created", {"id": "cus_test_1", "object": "customer"}),
        # Some objects have no id at all.
        ("balance.available", {"object": "balance", "available": [{"amount": 1200}]}),
    ]:
        event = {"id": f"evt_{type_}", "type": type_, "data": {"object": obj}}
        response = deliver(client, event)
        assert response.status_code == 200, type_
        assert response.get_json()["result"] == "ignored", type_
    assert snapshot()[:3] == before[:3]
