"""``flask payments reconcile``: repairs what lost webhooks and an unreachable Stripe left
behind, does nothing the second time, and is safe to run from two places at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from schiller40.booking.models import BookingStatus
from schiller40.booking.settings import from_config
from schiller40.extensions import db
from schiller40.payments.models import PaymentStatus, Refund, RefundReason, RefundStatus
from schiller40.payments.reconcile import ReconcileReport
from schiller40.payments.reconcile import reconcile as reconcile_payments
from schiller40.payments.setup import gateway
from tests.helpers import WED, book_via_api

from . import test_stripe_flow as flow
from .conftest import deliver_all
from .test_stripe_flow import (
    BOOKINGS,
    at_once,
    booking_row,
    charge_of,
    pay,
    payment_of,
    shown,
    snapshot,
)

app_config = flow.app_config  # Stripe through the local server, not the simulated default


def reconcile(cli) -> str:
    result = cli("payments", "reconcile")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def paid(client, api_as, place, stripe_server):
    """A room booking two days ahead, paid; its cancellation is owed a full refund."""
    booking = book_via_api(api_as(place.member), "room", WED, 10, 11)
    pay(client, stripe_server, booking["id"])
    return booking


@pytest.fixture
def refund_left_pending(api_as, place, stripe_server, paid):
    """The member cancelled while Stripe was down: the refund is recorded, not sent."""
    stripe_server.down = True
    response = api_as(place.member).post(f"{BOOKINGS}/{paid['id']}/cancel", json={})
    stripe_server.down = False
    assert response.status_code == 200
    assert response.get_json()["refund"]["status"] == "pending"
    assert stripe_server.created_count("refund") == 0
    return paid


def test_a_lost_webhook_is_repaired(api_as, place, stripe_server, cli):
    api = api_as(place.member)
    booking = book_via_api(api)
    stripe_server.complete_checkout(payment_of(booking["id"]).checkout_id)  # never delivered
    assert shown(api, booking["id"])["status"] == "held"
    output = reconcile(cli)
    assert "checked 1 payment(s), repaired 1" in output
    assert shown(api, booking["id"])["status"] == "confirmed"
    payment = payment_of(booking["id"])
    assert (payment.status, payment.received_cents) == (PaymentStatus.PAID, 1200)


def test_a_released_hold_has_its_open_checkout_expired_at_stripe(
    api_as, place, stripe_server, cli
):
    booking = book_via_api(api_as(place.member))
    checkout_id = payment_of(booking["id"]).checkout_id
    stripe_server.down = True  # the member cancels; expiring the checkout fails
    assert api_as(place.member).post(f"{BOOKINGS}/{booking['id']}/cancel").status_code == 200
    stripe_server.down = False
    assert stripe_server.session(checkout_id)["status"] == "open"
    reconcile(cli)
    assert stripe_server.session(checkout_id)["status"] == "expired"
    assert payment_of(booking["id"]).status is PaymentStatus.EXPIRED
    assert booking_row(booking["id"]).status is BookingStatus.CANCELLED


def test_a_pending_refund_is_sent_exactly_once(
    api_as, place, stripe_server, cli, refund_left_pending
):
    booking = refund_left_pending
    output = reconcile(cli)
    assert "repaired 1" in output
    refund = db.session.scalars(select(Refund)).one()
    assert (refund.status, refund.amount_cents, refund.reason) == (
        RefundStatus.SUCCEEDED, 1200, RefundReason.CANCELLATION
    )
    payment = payment_of(booking["id"])
    assert payment.refunded_cents == 1200
    assert charge_of(stripe_server, payment)["amount_refunded"] == 1200
    assert stripe_server.created_count("refund") == 1
    assert shown(api_as(place.member), booking["id"])["payment"]["refunded_cents"] == 1200
    # The second run finds nothing to do.
    before, requests = snapshot(), len(stripe_server.request_log)
    assert "repaired 0" in reconcile(cli)
    assert snapshot() == before
    assert stripe_server.created_count("refund") == 1
    assert not [r for r in stripe_server.request_log[requests:] if r.method == "POST"]


def test_a_refund_whose_answer_was_lost_is_not_sent_twice(
    stripe_server, cli, refund_left_pending
):
    """Stripe made the refund but our request timed out, so ours stays pending: the next run
    finds Stripe's refund by our id in its metadata and does not send another."""
    refund = db.session.scalars(select(Refund)).one()
    payment = payment_of(refund_left_pending["id"])
    gateway().refund(  # the first attempt, whose answer never arrived
        payment.payment_intent_id, amount_cents=refund.amount_cents,
        idempotency_key=refund.idempotency_key, local_id=refund.id,
    )
    reconcile(cli)
    db.session.expire_all()
    refund = db.session.get(Refund, refund.id)
    assert refund.status is RefundStatus.SUCCEEDED and refund.provider_refund_id
    assert stripe_server.created_count("refund") == 1
    assert charge_of(stripe_server, payment)["amount_refunded"] == 1200
    assert payment_of(refund_left_pending["id"]).refunded_cents == 1200


def test_two_reconcilers_at_once_send_each_refund_once(
    app, stripe_server, clock, refund_left_pending
):
    def run() -> ReconcileReport:
        with app.app_context():
            return reconcile_payments(
                db.session, gateway(), now=clock(), settings=from_config(app.config)
            )

    reports = at_once(run)
    assert [type(r) for r in reports] == [ReconcileReport] * 2, reports
    assert [r.failed for r in reports] == [[], []]
    refund = db.session.scalars(select(Refund)).one()
    assert refund.status is RefundStatus.SUCCEEDED
    assert stripe_server.created_count("refund") == 1
    payment = payment_of(refund_left_pending["id"])
    assert payment.refunded_cents == 1200
    assert charge_of(stripe_server, payment)["amount_refunded"] == 1200


@pytest.mark.parametrize(
    ("action", "shown_at_once", "intent", "payment_status", "booking_status"),
    [
        ("approve", "held", "succeeded", PaymentStatus.PAID, BookingStatus.CONFIRMED),
        ("reject", "cancelled", "canceled", PaymentStatus.CANCELLED, BookingStatus.CANCELLED),
    ],
)
def test_a_decision_made_while_stripe_was_down_is_carried_out_later(
    client, api_as, place, approval_studio, stripe_server, cli,
    action, shown_at_once, intent, payment_status, booking_status,
):
    """Approved: the capture is owed; rejected: the authorisation must be given back."""
    booking = book_via_api(api_as(place.member), "studio", WED, 10, 12)
    payment = pay(client, stripe_server, booking["id"])
    stripe_server.down = True
    response = api_as(place.staff).post(f"{BOOKINGS}/{booking['id']}/{action}")
    stripe_server.down = False
    assert response.status_code == 200
    assert response.get_json()["booking"]["status"] == shown_at_once
    assert stripe_server.payment_intent(payment.payment_intent_id)["status"] == (
        "requires_capture"
    )
    reconcile(cli)
    assert stripe_server.payment_intent(payment.payment_intent_id)["status"] == intent
    assert payment_of(booking["id"]).status is payment_status
    assert booking_row(booking["id"]).status is booking_status


def test_an_authorisation_staff_never_decided_on_is_given_back(
    client, api_as, place, approval_studio, stripe_server, clock, cli
):
    booking = book_via_api(api_as(place.member), "studio", WED, 10, 12)
    payment = pay(client, stripe_server, booking["id"])
    clock.advance(timedelta(days=3))  # the booking has started; nobody approved it
    reconcile(cli)
    assert stripe_server.payment_intent(payment.payment_intent_id)["status"] == "canceled"
    assert payment_of(booking["id"]).status is PaymentStatus.CANCELLED
    assert booking_row(booking["id"]).status is BookingStatus.EXPIRED


def test_stripe_down_exits_1_and_names_what_was_not_checked(
    api_as, place, stripe_server, cli
):
    booking = book_via_api(api_as(place.member))
    stripe_server.complete_checkout(payment_of(booking["id"]).checkout_id)
    before = snapshot()
    stripe_server.down = True
    result = cli("payments", "reconcile")
    assert result.exit_code == 1
    assert "unreachable" in result.output
    assert str(payment_of(booking["id"]).id) in result.output
    assert snapshot() == before
    # The next run, with Stripe back, repairs it.
    stripe_server.down = False
    reconcile(cli)
    assert booking_row(booking["id"]).status is BookingStatus.CONFIRMED


def test_a_refund_stripe_would_not_take_now_makes_the_run_fail(
    stripe_server, cli, refund_left_pending
):
    """Stripe answers the reads but fails the refund itself: the run must not report success,
    or a cron job's monitoring never hears that money is still owed."""
    stripe_server.fail_next(1, 503, path="/v1/refunds")
    result = cli("payments", "reconcile")
    assert result.exit_code == 1
    assert str(payment_of(refund_left_pending["id"]).id) in result.output
    assert db.session.scalars(select(Refund)).one().status is RefundStatus.PENDING
    assert stripe_server.created_count("refund") == 0
    # The next run sends it.
    reconcile(cli)
    assert db.session.scalars(select(Refund)).one().status is RefundStatus.SUCCEEDED
    assert stripe_server.created_count("refund") == 1


def sepa_refund_pending_at_stripe(client, api, server) -> tuple[dict, Refund]:
    """A room paid by SEPA, cancelled in time: Stripe accepted the refund, which is pending."""
    booking = book_via_api(api, "room", WED, 10, 11)
    payment = pay(client, server, booking["id"], outcome="processing")
    server.finish_async(payment.payment_intent_id, succeeded=True)
    deliver_all(client, server, "checkout.session.async_payment_succeeded")
    assert api.post(f"{BOOKINGS}/{booking['id']}/cancel").status_code == 200
    refund = db.session.scalars(select(Refund)).one()
    assert refund.status is RefundStatus.PENDING and refund.provider_refund_id
    return booking, refund


def test_a_refund_stripe_accepted_but_has_not_finished_is_never_sent_again(
    client, api_as, place, stripe_server, cli
):
    """A SEPA payment goes back by bank transfer: the refund stays "pending" at Stripe for
    days. Sending it again is answered from Stripe's idempotency cache for 24 hours only;
    after that it would be a second refund."""
    api = api_as(place.member)
    booking, refund = sepa_refund_pending_at_stripe(client, api, stripe_server)
    reconcile(cli)
    reconcile(cli)
    sent = [r for r in stripe_server.request_log if r.method == "POST" and r.path == "/v1/refunds"]
    assert len(sent) == 1
    stripe_server.settle_refund(refund.provider_refund_id)
    reconcile(cli)
    db.session.expire_all()
    assert db.session.get(Refund, refund.id).status is RefundStatus.SUCCEEDED
    assert payment_of(booking["id"]).refunded_cents == 1200
    assert shown(api, booking["id"])["payment"]["refunded_cents"] == 1200


def test_a_refund_that_fails_at_stripe_later_is_marked_failed(
    client, api_as, place, stripe_server, cli
):
    """Stripe takes a failed refund off the charge, so the charge no longer shows anything
    refunded; the refund must still be looked up, or ours stays "pending" for ever."""
    api = api_as(place.member)
    booking, refund = sepa_refund_pending_at_stripe(client, api, stripe_server)
    stripe_server.settle_refund(refund.provider_refund_id, succeeded=False)
    reconcile(cli)
    db.session.expire_all()
    refund = db.session.get(Refund, refund.id)
    assert refund.status is RefundStatus.FAILED and refund.failure_message
    payment = payment_of(booking["id"])
    assert payment.refunded_cents == 0 and payment.refundable_cents == 1200
    assert shown(api, booking["id"])["payment"]["refunded_cents"] == 0
