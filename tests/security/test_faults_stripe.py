"""Stripe slow beyond the app's timeout: the request it was waiting on *did* happen at Stripe,
only the answer came too late.

``tests/payments`` covers Stripe down (nothing happens there) and answers lost in other ways;
a slow Stripe is the nastier case, because we give up on something Stripe went on to do:

- a checkout created after we released the hold must not stay payable (reconcile finds it
  by our payment id and expires it);
- a refund made after our request timed out must be recorded once, never sent twice;
- a webhook whose re-fetch times out is refused (503), records nothing, and its redelivery
  does the work once.

The app runs in-process against the local Stripe server with a short timeout and one SDK
retry, so every fault here is a real ``requests`` timeout in the official SDK, followed by a
retry with the same idempotency key.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from schiller40.payments.models import PaymentStatus, Refund, RefundStatus, WebhookEvent
from tests.api.conftest import api_as  # noqa: F401 (fixture)
from tests.helpers import TUE, WED, book_via_api, span
from tests.payments.conftest import (  # noqa: F401 (fixtures)
    _stripe_server_process,
    deliver,
    stripe_config,
    stripe_server,
)
from tests.payments.stripe_server import ControlError, StripeServer
from tests.payments.test_stripe_flow import BOOKINGS, booking_row, pay, payment_of, snapshot

# The app gives up on Stripe after TIMEOUT seconds and retries once (same idempotency key);
# the slow endpoints answer after SLOW seconds, having done their work at once.
TIMEOUT = 0.5
SLOW = 1.5


@pytest.fixture
def app_config(stripe_config: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    return {**stripe_config, "STRIPE_TIMEOUT_SECONDS": TIMEOUT, "STRIPE_MAX_RETRIES": 1}


def reconcile(cli) -> str:
    result = cli("payments", "reconcile")
    assert result.exit_code == 0, result.output
    return result.output


def mails(topic: str) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == topic)
    )


def posts(server: StripeServer, path: str) -> list[Any]:
    return [r for r in server.request_log if r.method == "POST" and r.path == path]


def test_a_checkout_stripe_opened_too_late_is_released_and_then_expired_by_reconcile(
    api_as, place, factory, stripe_server, cli  # noqa: F811
):
    stripe_server.delay("/v1/checkout/sessions", SLOW)
    response = api_as(place.member).post(BOOKINGS, json={"resource": "room", **span(TUE, 10, 11)})
    stripe_server.delay("/v1/checkout/sessions", 0)

    # The member is told at once, in the API's error shape, and when to try again.
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.get_json()["error"]["code"] == "payment_unavailable"
    # Stripe did open the checkout, once: the SDK's retry carried the same key.
    creates = posts(stripe_server, "/v1/checkout/sessions")
    assert len(creates) == 2 and len({c.idempotency_key for c in creates}) == 1
    assert stripe_server.created_count("checkout.session") == 1
    # Our side gave up: the hold is released, the payment failed, no checkout recorded.
    booking = db.session.scalars(select(Booking).where(Booking.user_id == place.member.id)).one()
    assert booking.status is not BookingStatus.HELD
    payment = payment_of(booking.id)
    assert (payment.status, payment.failure_reason, payment.checkout_id) == (
        PaymentStatus.FAILED, "gateway_unavailable", None
    )

    # The slot is free for someone else at once (not after the 31 minutes of the checkout).
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    taken = book_via_api(api_as(other), "room", TUE, 10, 11)
    others_checkout = payment_of(taken["id"]).checkout_id

    # Reconcile finds the orphan by our payment id and expires it: nobody can pay for it.
    assert "repaired 1" in reconcile(cli)
    orphan = payment_of(booking.id).checkout_id
    assert orphan is not None and orphan != others_checkout
    assert stripe_server.session(orphan)["status"] == "expired"
    with pytest.raises(ControlError):
        stripe_server.complete_checkout(orphan)
    assert payment_of(booking.id).status is PaymentStatus.FAILED
    # The other member's checkout is untouched and their hold stands.
    assert stripe_server.session(others_checkout)["status"] == "open"
    assert booking_row(taken["id"]).status is BookingStatus.HELD
    assert stripe_server.created_count("checkout.session") == 2

    # Once is enough: the next run changes nothing and sends nothing.
    before, requests = snapshot(), len(stripe_server.request_log)
    assert "repaired 0" in reconcile(cli)
    assert snapshot() == before
    assert not [r for r in stripe_server.request_log[requests:] if r.method == "POST"]


def test_a_refund_stripe_made_too_late_stands_pending_and_reconcile_records_it_once(
    client, api_as, place, stripe_server, cli  # noqa: F811
):
    api = api_as(place.member)
    booking = book_via_api(api, "room", WED, 10, 11)  # two days ahead: a full refund is owed
    pay(client, stripe_server, booking["id"])

    stripe_server.delay("/v1/refunds", SLOW)
    response = api.post(f"{BOOKINGS}/{booking['id']}/cancel", json={})
    stripe_server.delay("/v1/refunds", 0)

    # The cancellation stands; the member is told the refund is on its way.
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["booking"]["status"] == "cancelled"
    assert response.get_json()["refund"]["status"] == "pending"
    refund = db.session.scalars(select(Refund)).one()
    assert (refund.status, refund.provider_refund_id) == (RefundStatus.PENDING, None)
    # Stripe made the refund once, though it was asked twice (the SDK's retry, same key).
    sent = posts(stripe_server, "/v1/refunds")
    assert len(sent) == 2 and sent[0].idempotency_key == sent[1].idempotency_key
    assert stripe_server.created_count("refund") == 1

    reconcile(cli)
    db.session.expire_all()
    refund = db.session.get(Refund, refund.id)
    assert refund is not None and refund.status is RefundStatus.SUCCEEDED
    assert refund.provider_refund_id
    assert stripe_server.created_count("refund") == 1
    assert len(posts(stripe_server, "/v1/refunds")) == 2  # learned from Stripe, not re-sent
    assert payment_of(booking["id"]).refunded_cents == 1200
    assert booking_row(booking["id"]).status is BookingStatus.CANCELLED
    assert (mails("mail.booking_cancelled"), mails("mail.refund_issued")) == (1, 1)

    before = snapshot()
    assert "repaired 0" in reconcile(cli)
    assert snapshot() == before
    assert stripe_server.created_count("refund") == 1
    assert mails("mail.refund_issued") == 1


def test_a_webhook_whose_refetch_times_out_records_nothing_and_its_redelivery_counts_once(
    client, api_as, place, stripe_server  # noqa: F811
):
    booking = book_via_api(api_as(place.member), "room", TUE, 10, 11)
    stripe_server.clear_events()
    stripe_server.complete_checkout(payment_of(booking["id"]).checkout_id)
    (event,) = stripe_server.events_of_type("checkout.session.completed")

    stripe_server.delay("/v1/checkout/sessions/", SLOW)
    refused = deliver(client, event)
    stripe_server.delay("/v1/checkout/sessions/", 0)
    # Stripe is told to come back; nothing was recorded, so the redelivery is not a duplicate.
    assert refused.status_code == 503
    reads = [r for r in stripe_server.request_log if r.path.startswith("/v1/checkout/sessions/")]
    assert len(reads) == 2  # the re-fetch and the SDK's one retry, both too slow
    assert refused.headers["Retry-After"] == "60"
    assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert payment_of(booking["id"]).status is PaymentStatus.PENDING
    assert booking_row(booking["id"]).status is BookingStatus.HELD

    assert deliver(client, event).get_json()["result"] == "handled"
    assert deliver(client, event).get_json()["result"] == "duplicate"
    assert payment_of(booking["id"]).status is PaymentStatus.PAID
    assert booking_row(booking["id"]).status is BookingStatus.CONFIRMED
    assert (mails("mail.booking_confirmed"), mails("mail.payment_received")) == (1, 1)
