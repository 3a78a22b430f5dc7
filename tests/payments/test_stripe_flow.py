"""The whole payment flow with Stripe configured: the official SDK talks HTTP to the local
Stripe-compatible server; webhooks are signed as Stripe signs them.

This module covers checkouts (create, reuse, expire, idempotent retry), manual capture with
staff approval, and refunds (cancellation policy, staff choice, staff by hand). Its helpers
are shared by ``test_webhooks.py`` and ``test_reconcile.py``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.extensions import db
from schiller40.payments.models import (
    CaptureMethod,
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    WebhookEvent,
)
from tests.helpers import MON, TUE, WED, book_via_api, span

from .conftest import deliver_all
from .stripe_server import StripeServer

BOOKINGS = "/api/v1/bookings"


@pytest.fixture
def app_config(stripe_config):
    return stripe_config


# --- helpers shared by the Stripe test modules ---------------------------------------------


def payment_of(booking_id: int) -> Payment:
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    assert booking is not None and booking.payment is not None
    return booking.payment


def booking_row(booking_id: int) -> Booking:
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    assert booking is not None
    return booking


def shown(api, booking_id: int) -> dict:
    """The booking as its member sees it through the API."""
    response = api.get(f"{BOOKINGS}/{booking_id}")
    assert response.status_code == 200
    return response.get_json()["booking"]


def pay(client, server: StripeServer, booking_id: int, outcome: str = "succeeded") -> Payment:
    """The member pays on Stripe's page; Stripe's webhooks for it are delivered."""
    server.clear_events()
    server.complete_checkout(payment_of(booking_id).checkout_id, outcome)
    answers = deliver_all(client, server)
    assert [a.status_code for a in answers] == [200] * len(answers)
    return payment_of(booking_id)


def charge_of(server: StripeServer, payment: Payment) -> dict:
    return server.charge(server.payment_intent(payment.payment_intent_id)["latest_charge"])


def rows(model, **filters) -> int:
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**filters))


def snapshot() -> tuple:
    """Everything a webhook or reconciliation could change, to prove that it changed nothing."""
    db.session.expire_all()
    payments = db.session.scalars(select(Payment).order_by(Payment.id)).all()
    bookings = db.session.scalars(select(Booking).order_by(Booking.id)).all()
    refunds = db.session.scalars(select(Refund).order_by(Refund.id)).all()
    return (
        [(p.id, p.status, p.checkout_id, p.received_cents, p.refunded_cents) for p in payments],
        [(b.id, b.status, b.sequence, b.hold_expires_at) for b in bookings],
        [(r.id, r.status, r.amount_cents) for r in refunds],
        rows(WebhookEvent),
    )


def at_once(fn: Callable[[], Any], times: int = 2) -> list[Any]:
    """Run ``fn`` from ``times`` threads released together, each in an empty context (so with
    its own app context and database session, as separate processes would be). Returns what
    each returned or raised."""
    db.session.commit()  # what the test wrote is visible to them; the test's snapshot ends
    barrier = threading.Barrier(times)
    results: list[Any] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(fn())
        except BaseException as exc:  # handed to the test, never swallowed
            results.append(exc)

    threads = [threading.Thread(target=contextvars.Context().run, args=(run,), daemon=True)
               for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


# --- checkout sessions -----------------------------------------------------------------------


def test_a_paid_booking_opens_a_stripe_checkout_that_matches_the_hold(
    api_as, place, stripe_server, clock
):
    booking = book_via_api(api_as(place.member))
    payment = payment_of(booking["id"])
    session = stripe_server.session(payment.checkout_id)
    assert booking["payment"]["checkout_url"] == session["url"]
    assert session["status"] == "open"
    assert session["client_reference_id"] == str(booking["id"])
    assert session["metadata"]["booking_ids"] == str(booking["id"])
    assert session["metadata"]["payment_id"] == str(payment.id)
    assert session["amount_total"] == 1200 and session["currency"] == "eur"
    (item,) = stripe_server.line_items(payment.checkout_id)
    assert item["amount_total"] == 1200
    assert item["description"].startswith(f"Buchung {booking['id']}")  # Mia's language
    # Stripe's shortest checkout is 30 minutes; the hold lasts exactly as long.
    hold = booking_row(booking["id"]).hold_expires_at
    assert session["expires_at"] == int(hold.timestamp())
    assert hold >= clock() + timedelta(minutes=30)
    assert stripe_server.created_count("checkout.session") == 1


def test_asking_for_the_checkout_again_reuses_the_open_one(api_as, place, stripe_server):
    api = api_as(place.member)
    booking = book_via_api(api)
    response = api.post(f"{BOOKINGS}/{booking['id']}/checkout")
    assert response.status_code == 200
    assert response.get_json()["booking"]["payment"]["checkout_url"] == (
        booking["payment"]["checkout_url"]
    )
    assert stripe_server.created_count("checkout.session") == 1


def test_a_checkout_whose_answer_was_lost_is_not_opened_twice(api_as, place, stripe_server):
    """Stripe opened the session but we never stored its id (a crash, a lost answer): the
    retry carries the same idempotency key, so Stripe answers with the same session."""
    api = api_as(place.member)
    booking = book_via_api(api)
    payment = payment_of(booking["id"])
    first = payment.checkout_id
    payment.checkout_id = payment.checkout_url = None
    db.session.commit()
    response = api.post(f"{BOOKINGS}/{booking['id']}/checkout")
    assert response.status_code == 200
    assert payment_of(booking["id"]).checkout_id == first
    assert stripe_server.created_count("checkout.session") == 1
    creates = [r for r in stripe_server.request_log if r.path == "/v1/checkout/sessions"]
    assert len(creates) == 2 and creates[0].idempotency_key == creates[1].idempotency_key
    assert creates[1].replayed


def test_paying_and_the_webhook_confirm_the_booking(client, api_as, place, stripe_server):
    api = api_as(place.member)
    booking = book_via_api(api)
    payment = pay(client, stripe_server, booking["id"])
    seen = shown(api, booking["id"])
    assert seen["status"] == "confirmed" and seen["payment"]["status"] == "paid"
    assert seen["payment"]["checkout_url"] is None
    assert payment.status is PaymentStatus.PAID and payment.received_cents == 1200
    assert stripe_server.session(payment.checkout_id)["payment_status"] == "paid"


def test_cancelling_a_held_booking_expires_its_checkout_at_stripe(api_as, place, stripe_server):
    api = api_as(place.member)
    booking = book_via_api(api)
    response = api.post(f"{BOOKINGS}/{booking['id']}/cancel", json={})
    assert response.status_code == 200
    assert response.get_json()["refund"] is None
    payment = payment_of(booking["id"])
    assert stripe_server.session(payment.checkout_id)["status"] == "expired"
    assert payment.status is PaymentStatus.EXPIRED
    assert booking_row(booking["id"]).status is BookingStatus.CANCELLED


def test_stripe_down_releases_the_hold_at_once(api_as, place, stripe_server, other_member):
    stripe_server.down = True
    response = api_as(place.member).post(
        BOOKINGS, json={"resource": "room", **span(TUE, 10, 11)}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.get_json()["error"]["code"] == "payment_unavailable"
    stripe_server.down = False
    assert stripe_server.created_count("checkout.session") == 0
    # The slot is free again for someone else at once.
    book_via_api(api_as(other_member))


# --- manual capture: studios that need approval ----------------------------------------------


def test_an_approval_booking_is_only_authorised_and_its_hold_lasts_until_staff_decide(
    client, api_as, place, approval_studio, stripe_server, clock
):
    api = api_as(place.member)
    booking = book_via_api(api, "studio", TUE, 10, 12)  # one hour included, one paid: 35 €
    assert payment_of(booking["id"]).capture_method is CaptureMethod.MANUAL
    payment = pay(client, stripe_server, booking["id"])
    assert payment.status is PaymentStatus.AUTHORIZED
    intent = stripe_server.payment_intent(payment.payment_intent_id)
    assert (intent["status"], intent["amount_capturable"], intent["amount_received"]) == (
        "requires_capture", 3500, 0
    )
    seen = shown(api, booking["id"])
    assert seen["status"] == "held"
    assert seen["payment"]["status"] == "authorized" and seen["payment"]["awaiting_approval"]
    # Held until the booking starts (staff decide before then), not for Stripe's 30 minutes.
    assert booking_row(booking["id"]).hold_expires_at == booking_row(booking["id"]).starts_at
    clock.advance(timedelta(hours=2))
    assert shown(api, booking["id"])["status"] == "held"


def test_staff_approval_captures_the_authorisation(
    client, api_as, place, approval_studio, stripe_server
):
    booking = book_via_api(api_as(place.member), "studio", TUE, 10, 12)
    payment = pay(client, stripe_server, booking["id"])
    response = api_as(place.staff).post(f"{BOOKINGS}/{booking['id']}/approve")
    assert response.status_code == 200
    assert response.get_json()["booking"]["status"] == "confirmed"
    intent = stripe_server.payment_intent(payment.payment_intent_id)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 3500)
    payment = payment_of(booking["id"])
    assert (payment.status, payment.received_cents) == (PaymentStatus.PAID, 3500)
    assert [r.path for r in stripe_server.request_log].count(
        f"/v1/payment_intents/{payment.payment_intent_id}/capture"
    ) == 1
    # Approving twice is refused and captures nothing more.
    again = api_as(place.staff).post(f"{BOOKINGS}/{booking['id']}/approve")
    assert again.status_code == 409
    assert stripe_server.payment_intent(payment.payment_intent_id)["amount_received"] == 3500


def test_staff_rejection_cancels_the_booking_and_gives_the_authorisation_back(
    client, api_as, place, approval_studio, stripe_server
):
    booking = book_via_api(api_as(place.member), "studio", TUE, 10, 12)
    payment = pay(client, stripe_server, booking["id"])
    response = api_as(place.staff).post(
        f"{BOOKINGS}/{booking['id']}/reject", json={"reason": "Studio needed for an event"}
    )
    assert response.status_code == 200
    assert response.get_json()["booking"]["status"] == "cancelled"
    assert stripe_server.payment_intent(payment.payment_intent_id)["status"] == "canceled"
    payment = payment_of(booking["id"])
    assert payment.status is PaymentStatus.CANCELLED and payment.received_cents == 0
    assert rows(Refund) == 0  # nothing was taken, so nothing is refunded


def test_approving_what_is_left_of_a_series_captures_only_its_share(
    client, api_as, place, approval_studio, stripe_server
):
    """One authorisation for two studio days; staff reject one and approve the other: Stripe
    captures only the approved day's price and releases the rest."""
    response = api_as(place.member).post(BOOKINGS, json={
        "resource": "studio", **span(TUE, 10, 12), "repeat": {"freq": "daily", "count": 2},
    })
    assert response.status_code == 201, response.get_json()
    first, second = response.get_json()["bookings"]
    payment = pay(client, stripe_server, first["id"])
    assert payment.status is PaymentStatus.AUTHORIZED
    authorised = stripe_server.payment_intent(payment.payment_intent_id)["amount_capturable"]
    assert authorised == first["price_cents"] + second["price_cents"]
    staff = api_as(place.staff)
    assert staff.post(f"{BOOKINGS}/{first['id']}/reject").status_code == 200
    assert staff.post(f"{BOOKINGS}/{second['id']}/approve").status_code == 200
    intent = stripe_server.payment_intent(payment.payment_intent_id)
    assert (intent["status"], intent["amount_received"]) == ("succeeded", second["price_cents"])
    payment = payment_of(second["id"])
    assert (payment.status, payment.received_cents) == (
        PaymentStatus.PAID, second["price_cents"]
    )
    assert rows(Refund) == 0  # nothing taken for the rejected day, so nothing to give back
    assert booking_row(first["id"]).status is BookingStatus.CANCELLED
    assert booking_row(second["id"]).status is BookingStatus.CONFIRMED


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_a_member_cannot_decide_on_their_own_booking(
    client, api_as, place, approval_studio, stripe_server, action
):
    api = api_as(place.member)
    booking = book_via_api(api, "studio", TUE, 10, 12)
    payment = pay(client, stripe_server, booking["id"])
    response = api.post(f"{BOOKINGS}/{booking['id']}/{action}")
    assert response.status_code == 404
    assert payment_of(booking["id"]).status is PaymentStatus.AUTHORIZED
    assert stripe_server.payment_intent(payment.payment_intent_id)["status"] == "requires_capture"


def test_an_approval_studio_booked_more_than_a_week_ahead_is_paid_at_once(
    client, api_as, place, approval_studio, stripe_server
):
    """A card authorisation lasts about seven days: further ahead, the member pays now."""
    api = api_as(place.member)
    booking = book_via_api(api, "studio", MON + timedelta(days=8), 10, 12)
    payment = pay(client, stripe_server, booking["id"])
    assert payment.capture_method is CaptureMethod.AUTOMATIC
    assert stripe_server.payment_intent(payment.payment_intent_id)["capture_method"] == (
        "automatic"
    )
    assert (payment.status, payment.received_cents) == (PaymentStatus.PAID, 3500)
    assert shown(api, booking["id"])["status"] == "confirmed"


# --- refunds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "percent", "cents"),
    [
        (WED, 10, 100, 1200),  # 49 hours before
        (TUE, 10, 50, 600),  # 25 hours before
        (MON, 14, 0, 0),  # 5 hours before
    ],
    ids=["48h-full", "24h-half", "late-none"],
)
def test_cancelling_a_paid_room_refunds_by_the_policy_through_stripe(
    client, api_as, place, stripe_server, day, start, percent, cents
):
    api = api_as(place.member)
    booking = book_via_api(api, "room", day, start, start + 1)
    payment = pay(client, stripe_server, booking["id"])
    quote = api.get(f"{BOOKINGS}/{booking['id']}/cancellation").get_json()
    assert (quote["paid_cents"], quote["refund_percent"], quote["refund_cents"]) == (
        1200, percent, cents
    )
    assert quote["payment_state"] == "paid"

    response = api.post(f"{BOOKINGS}/{booking['id']}/cancel", json={"reason": "plans changed"})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["booking"]["status"] == "cancelled"
    assert answer["booking"]["payment"]["refunded_cents"] == cents
    assert charge_of(stripe_server, payment)["amount_refunded"] == cents
    assert stripe_server.created_count("refund") == (1 if cents else 0)
    if cents:
        assert answer["refund"]["amount_cents"] == cents
        assert answer["refund"]["status"] == "succeeded"
        refund = db.session.get(Refund, answer["refund"]["id"])
        assert refund.reason is RefundReason.CANCELLATION and refund.provider_refund_id
    else:
        assert answer["refund"] is None
    assert payment_of(booking["id"]).refunded_cents == cents


def test_staff_may_refund_a_late_cancellation_in_full(client, api_as, place, stripe_server):
    booking = book_via_api(api_as(place.member), "room", MON, 14, 15)
    payment = pay(client, stripe_server, booking["id"])
    response = api_as(place.staff).post(
        f"{BOOKINGS}/{booking['id']}/cancel", json={"refund": "full", "reason": "leak"}
    )
    assert response.status_code == 200
    assert response.get_json()["refund"]["amount_cents"] == 1200
    assert charge_of(stripe_server, payment)["amount_refunded"] == 1200


def test_a_member_may_not_choose_the_refund(client, api_as, place, stripe_server):
    api = api_as(place.member)
    booking = book_via_api(api, "room", MON, 14, 15)
    pay(client, stripe_server, booking["id"])
    before = snapshot()
    response = api.post(f"{BOOKINGS}/{booking['id']}/cancel", json={"refund": "full"})
    assert response.status_code == 422
    assert "refund" in response.get_json()["error"]["fields"]
    assert snapshot() == before
    assert stripe_server.created_count("refund") == 0


def test_staff_refund_by_hand_in_parts_up_to_what_was_paid(client, api_as, place, stripe_server):
    booking = book_via_api(api_as(place.member))
    payment = pay(client, stripe_server, booking["id"])
    staff = api_as(place.staff)
    url = f"{BOOKINGS}/{booking['id']}/refunds"
    first = staff.post(url, json={"amount_cents": 500, "note": "projector broken"})
    assert first.status_code == 201
    assert first.get_json()["refund"]["status"] == "succeeded"
    too_much = staff.post(url, json={"amount_cents": 701})
    assert too_much.status_code == 422
    rest = staff.post(url, json={"amount_cents": 700})
    assert rest.status_code == 201
    assert staff.post(url, json={"amount_cents": 1}).status_code == 409
    assert charge_of(stripe_server, payment)["amount_refunded"] == 1200
    assert stripe_server.created_count("refund") == 2
    refunds = db.session.scalars(select(Refund).order_by(Refund.id)).all()
    assert [(r.amount_cents, r.reason, r.status) for r in refunds] == [
        (500, RefundReason.STAFF, RefundStatus.SUCCEEDED),
        (700, RefundReason.STAFF, RefundStatus.SUCCEEDED),
    ]
    assert payment_of(booking["id"]).refunded_cents == 1200
    # The member sees what came back, and may not refund themselves.
    member = api_as(place.member)
    assert shown(member, booking["id"])["payment"]["refunded_cents"] == 1200
    assert member.post(url, json={"amount_cents": 1}).status_code == 404
