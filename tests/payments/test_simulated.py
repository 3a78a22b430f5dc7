"""The simulated gateway on its own (both databases): it must behave like Stripe where the
service relies on it, since it is what runs when no payment provider is configured."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from schiller40.extensions import db
from schiller40.payments.gateway import (
    CheckoutRequest,
    GatewayRefused,
    IntentStatus,
    LineItem,
)
from schiller40.payments.models import SimulatedCheckout
from schiller40.payments.simulated import SimulatedGateway


@pytest.fixture
def gateway(app) -> SimulatedGateway:
    return SimulatedGateway(checkout_url=lambda cid: f"https://app.example/pay/simulated/{cid}")


def request_for(clock, *, key: str = "k1", manual: bool = False,
                amounts: tuple[int, ...] = (1200, 3500)) -> CheckoutRequest:
    return CheckoutRequest(
        payment_id=7, reference="41", booking_ids=(41, 42), customer_email="mia@example.org",
        items=tuple(LineItem(f"Room {n}", "incl. 19 % VAT", a) for n, a in enumerate(amounts)),
        currency="EUR", manual_capture=manual, expires_at=clock() + timedelta(minutes=30),
        success_url="https://app.example/ok?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="https://app.example/ok?cancelled=1", idempotency_key=key,
    )


def rows() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(SimulatedCheckout))


def intent_of(checkout_id: str) -> str:
    return "pi_" + checkout_id.removeprefix("cs_")


def test_checkouts_are_found_by_their_payment_and_creation_time(gateway, clock):
    """What reconciliation uses to find a checkout whose id never reached us."""
    mine = gateway.create_checkout(request_for(clock), now=clock())
    clock.advance(timedelta(minutes=5))
    later = gateway.create_checkout(request_for(clock, key="k2"), now=clock())
    other = replace(request_for(clock, key="k3"), payment_id=8)
    gateway.create_checkout(other, now=clock())
    assert [c.id for c in gateway.find_checkouts(7, since=clock() - timedelta(hours=1))] == [
        mine.id, later.id
    ]
    assert [c.id for c in gateway.find_checkouts(7, since=clock())] == [later.id]
    assert gateway.find_checkouts(9, since=clock() - timedelta(hours=1)) == []


def test_create_is_idempotent_and_carries_the_request(gateway, clock):
    first = gateway.create_checkout(request_for(clock), now=clock())
    again = gateway.create_checkout(request_for(clock), now=clock())
    other = gateway.create_checkout(request_for(clock, key="k2"), now=clock())
    assert first == again and other.id != first.id
    assert rows() == 2

    assert first.id.startswith("cs_sim_") and first.status == "open"
    assert first.url == f"https://app.example/pay/simulated/{first.id}"
    assert first.expires_at == clock() + timedelta(minutes=30)
    assert first.intent is None and first.manual_capture is False
    assert first.metadata == {"payment_id": "7", "booking_ids": "41,42"}
    assert first.payment_id == 7
    row = db.session.get(SimulatedCheckout, first.id)
    assert row.amount_cents == 4700 and row.currency == "EUR"
    assert [i["amount_cents"] for i in row.line_items] == [1200, 3500]
    assert row.details["reference"] == "41"


def test_a_checkout_runs_out_by_the_clock_or_when_expired_and_is_then_closed(gateway, clock):
    lapsing = gateway.create_checkout(request_for(clock), now=clock())
    expired = gateway.create_checkout(request_for(clock, key="k2"), now=clock())
    assert gateway.expire_checkout(expired.id, now=clock()).status == "expired"
    clock.advance(timedelta(minutes=29, seconds=59))
    assert gateway.get_checkout(lapsing.id, now=clock()).status == "open"
    clock.advance(timedelta(seconds=1))
    assert gateway.view(lapsing.id, now=clock()).status == "expired"
    assert gateway.get_checkout(lapsing.id, now=clock()).status == "expired"
    for checkout in (lapsing, expired):
        with pytest.raises(GatewayRefused):
            gateway.complete(checkout.id, now=clock())
        assert gateway.get_checkout(checkout.id, now=clock()).intent is None
    # A create with the same key still answers with the (expired) checkout: no second one.
    assert gateway.create_checkout(request_for(clock, key="k2"), now=clock()).id == expired.id
    assert rows() == 2


def test_unknown_checkouts_are_refused_and_charges_are_not_simulated(gateway, clock):
    for call in (
        lambda: gateway.get_checkout("cs_sim_nothing", now=clock()),
        lambda: gateway.expire_checkout("cs_sim_nothing", now=clock()),
        lambda: gateway.complete("cs_sim_nothing", now=clock()),
        lambda: gateway.capture("pi_sim_nothing", amount_cents=1, idempotency_key="c"),
        lambda: gateway.refund("pi_sim_nothing", amount_cents=1, idempotency_key="r",
                               local_id=1),
    ):
        with pytest.raises(GatewayRefused):
            call()
    assert gateway.view("cs_sim_nothing", now=clock()) is None
    assert gateway.intent_of_charge("ch_1") is None


def test_paying_an_automatic_checkout_takes_the_money(gateway, clock):
    checkout = gateway.create_checkout(request_for(clock), now=clock())
    done = gateway.complete(checkout.id, now=clock())
    assert done.status == "complete"
    assert done.intent is not None and done.intent.status is IntentStatus.SUCCEEDED
    assert done.intent.id == intent_of(checkout.id)
    assert (done.intent.amount_cents, done.intent.received_cents) == (4700, 4700)
    with pytest.raises(GatewayRefused):  # paid once only
        gateway.complete(checkout.id, now=clock())
    # Expiring a paid checkout changes nothing; capturing it again is a harmless retry.
    assert gateway.expire_checkout(checkout.id, now=clock()).status == "complete"
    gateway.capture(intent_of(checkout.id), amount_cents=4700, idempotency_key="c")
    with pytest.raises(GatewayRefused):  # nothing to give back: it was charged
        gateway.cancel_authorization(intent_of(checkout.id), idempotency_key="x")
    assert gateway.get_checkout(checkout.id, now=clock()).intent.received_cents == 4700


def test_a_manual_checkout_is_captured_within_its_amount_or_given_back(gateway, clock):
    checkout = gateway.create_checkout(request_for(clock, manual=True), now=clock())
    intent = intent_of(checkout.id)
    with pytest.raises(GatewayRefused):  # not authorised yet
        gateway.capture(intent, amount_cents=1200, idempotency_key="c")
    done = gateway.complete(checkout.id, now=clock())
    assert done.manual_capture and done.intent.status is IntentStatus.REQUIRES_CAPTURE
    assert done.intent.received_cents == 0
    for amount in (0, 4701):
        with pytest.raises(GatewayRefused):
            gateway.capture(intent, amount_cents=amount, idempotency_key="c")
    gateway.capture(intent, amount_cents=1200, idempotency_key="c")  # one booking kept
    gateway.capture(intent, amount_cents=1200, idempotency_key="c")  # a retry
    captured = gateway.get_checkout(checkout.id, now=clock()).intent
    assert (captured.status, captured.received_cents) == (IntentStatus.SUCCEEDED, 1200)

    # Another authorisation, given back instead (rejected, or never decided on).
    checkout = gateway.create_checkout(request_for(clock, key="k2", manual=True), now=clock())
    intent = intent_of(checkout.id)
    with pytest.raises(GatewayRefused):  # nothing authorised yet
        gateway.cancel_authorization(intent, idempotency_key="x")
    gateway.complete(checkout.id, now=clock())
    gateway.cancel_authorization(intent, idempotency_key="x")
    gateway.cancel_authorization(intent, idempotency_key="x")  # a retry
    seen = gateway.get_checkout(checkout.id, now=clock())
    assert seen.intent.status is IntentStatus.CANCELED and seen.intent.received_cents == 0
    with pytest.raises(GatewayRefused):
        gateway.capture(intent, amount_cents=1200, idempotency_key="c")
    with pytest.raises(GatewayRefused):
        gateway.refund(intent, amount_cents=100, idempotency_key="r", local_id=1)


def test_refunds_are_idempotent_and_never_exceed_what_was_received(gateway, clock):
    checkout = gateway.create_checkout(request_for(clock), now=clock())
    intent = intent_of(checkout.id)
    with pytest.raises(GatewayRefused):  # unpaid: nothing to refund
        gateway.refund(intent, amount_cents=100, idempotency_key="r0", local_id=1)
    gateway.complete(checkout.id, now=clock())

    first = gateway.refund(intent, amount_cents=1200, idempotency_key="r1", local_id=1)
    assert first.id.startswith("re_sim_") and first.status == "succeeded"
    assert (first.amount_cents, first.local_id) == (1200, 1)
    assert gateway.refund(intent, amount_cents=1200, idempotency_key="r1", local_id=1) == first
    for amount in (3501, 0, -1):
        with pytest.raises(GatewayRefused):
            gateway.refund(intent, amount_cents=amount, idempotency_key=f"r{amount}",
                           local_id=2)
    rest = gateway.refund(intent, amount_cents=3500, idempotency_key="r2", local_id=2)
    with pytest.raises(GatewayRefused):  # everything is back already
        gateway.refund(intent, amount_cents=1, idempotency_key="r3", local_id=3)

    seen = gateway.get_checkout(checkout.id, now=clock()).intent
    assert seen.refunded_cents == 4700 and seen.received_cents == 4700
    assert [(r.id, r.amount_cents, r.local_id) for r in seen.refunds] == [
        (first.id, 1200, 1), (rest.id, 3500, 2)]


def test_concurrent_creates_with_one_key_make_one_checkout(app, gateway, clock):
    """Two "Pay now" clicks at once send the same key: both get the one checkout."""
    racers = 4
    barrier = threading.Barrier(racers)
    results: list[object] = []

    def create() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results.append(gateway.create_checkout(request_for(clock), now=clock()).id)
            except Exception as exc:  # reported by the assertion below
                results.append(exc)

    for _round in range(3):
        results.clear()
        threads = [threading.Thread(target=create, daemon=True) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(results) == racers and len(set(results)) == 1, results
        assert isinstance(results[0], str)
        assert rows() == 1
