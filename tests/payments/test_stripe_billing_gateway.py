"""``StripeGateway``'s subscription calls on their own, against the fake Stripe server: the
ones no flow reaches yet (tier changes, cancellation with notice) and the edges of the others.
No database needed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from schiller40.payments.gateway import SubscriptionCheckoutRequest
from schiller40.payments.stripe_billing import midnight
from schiller40.payments.stripe_gateway import StripeGateway

from .stripe_server import StripeServer

DEC_17 = datetime(2026, 12, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def gw(stripe_server: StripeServer, clock) -> StripeGateway:
    clock.set(DEC_17)
    stripe_server.retry_days = ()
    stripe_server.after_final_failure = "past_due"
    return StripeGateway(stripe_server.api_key, api_base=stripe_server.base_url,
                         timeout_seconds=2, max_retries=0)


def subscribe(gw: StripeGateway, server: StripeServer, clock, *, method="card",
              starts_on=date(2026, 12, 17)) -> str:
    checkout = gw.create_subscription_checkout(SubscriptionCheckoutRequest(
        subscription_id=7, customer_email="mia@example.org", customer_ref=None,
        product_name="Flex", unit_amount_cents=8900, quantity=1, currency="EUR",
        starts_on=starts_on, first_period_end=date(2026, 12, 31), first_amount_cents=4306,
        payment_method=method, success_url="https://example.org/ok",
        cancel_url="https://example.org/no", idempotency_key="k7",
        expires_at=clock() + timedelta(hours=1), tier_id=3, user_id=42,
    ), now=clock())
    server.complete_checkout(checkout.id, payment_method=method)
    done = gw.get_subscription_checkout(checkout.id, now=clock())
    assert done.status == "complete" and done.subscription is not None
    return done.subscription.id


def test_a_retried_create_opens_one_checkout_for_one_customer(gw, stripe_server, clock):
    request = SubscriptionCheckoutRequest(
        subscription_id=8, customer_email="mia@example.org", customer_ref=None,
        product_name="Flex", unit_amount_cents=8900, quantity=1, currency="EUR",
        starts_on=date(2027, 1, 1), first_period_end=date(2027, 1, 31),
        first_amount_cents=8900, payment_method="sepa_debit",
        success_url="https://example.org/ok", cancel_url="https://example.org/no",
        idempotency_key="k8", expires_at=clock() + timedelta(hours=1), tier_id=3, user_id=42)
    first = gw.create_subscription_checkout(request, now=clock())
    again = gw.create_subscription_checkout(request, now=clock())
    assert first.id == again.id and first.mode == "subscription" and first.status == "open"
    assert stripe_server.created_count("customer") == 1
    assert stripe_server.created_count("checkout.session") == 1
    session = stripe_server.session(first.id)
    assert session["payment_method_types"] == ["sepa_debit"] and session["amount_total"] == 0


def test_a_declined_retry_comes_back_with_its_error_and_a_later_one_pays(
        gw, stripe_server, clock):
    ref = subscribe(gw, stripe_server, clock)
    customer = stripe_server.subscription(ref)["customer"]
    stripe_server.decline(customer)
    clock.set(datetime(2027, 1, 1, 5, tzinfo=UTC))
    stripe_server.advance_billing()
    remote = gw.get_subscription(ref, now=clock())
    renewal = remote.invoices[-1]
    assert (remote.status, renewal.status, renewal.billing_reason, renewal.last_error) == (
        "past_due", "open", "subscription_cycle", "Your card was declined.")
    assert (renewal.period_start, renewal.period_end, renewal.amount_cents) == (
        date(2027, 1, 1), date(2027, 1, 31), 8900)
    again = gw.pay_invoice(renewal.id, idempotency_key="r1", now=clock())
    assert (again.status, again.attempt_count) == ("open", 2) and again.last_error
    stripe_server.stop_declining(customer)
    paid = gw.pay_invoice(renewal.id, idempotency_key="r2", now=clock())
    assert (paid.status, paid.amount_paid_cents, paid.last_error) == ("paid", 8900, None)
    assert paid.charge_id and paid.paid_at is not None
    assert gw.get_subscription(ref, now=clock()).status == "active"


def test_a_tier_change_invoices_the_difference_from_local_midnight(gw, stripe_server, clock):
    ref = subscribe(gw, stripe_server, clock)
    clock.set(datetime(2027, 1, 10, 9, tzinfo=UTC))
    stripe_server.advance_billing()
    changed = gw.change_subscription(
        ref, unit_amount_cents=12900, quantity=1, proration_date=date(2027, 1, 10),
        idempotency_key="c1", now=clock(), tier_id=4, product_name="Fix")
    assert changed.unit_amount_cents == 12900
    proration = changed.invoices[-1]
    assert proration.billing_reason == "subscription_update"
    # 22 of 31 days of the difference (129 € - 89 €), to the second from local midnight
    assert proration.amount_cents == round(4000 * 22 / 31)
    assert proration.period_start == date(2027, 1, 10)
    item = stripe_server.subscription(ref)["items"]["data"][0]
    assert item["price"]["product"] == "schiller40_tier_4"


def test_cancelling_with_notice_ends_after_the_last_day_and_now_at_once(
        gw, stripe_server, clock):
    ref = subscribe(gw, stripe_server, clock)
    noticed = gw.cancel_subscription(ref, at=date(2027, 2, 28), idempotency_key="n1",
                                     now=clock())
    assert noticed.cancel_at == date(2027, 2, 28) and noticed.status == "active"
    assert stripe_server.subscription(ref)["cancel_at"] == midnight(date(2027, 3, 1))
    ended = gw.cancel_subscription(ref, at=None, idempotency_key="n2", now=clock())
    assert ended.status == "canceled"
    # asked again (a retry after a lost answer): the same answer, no error
    assert gw.cancel_subscription(ref, at=None, idempotency_key="n3",
                                  now=clock()).status == "canceled"


def test_a_cancellation_taken_back_renews_as_before(gw, stripe_server, clock):
    ref = subscribe(gw, stripe_server, clock)
    gw.cancel_subscription(ref, at=date(2027, 2, 28), idempotency_key="n1", now=clock())
    resumed = gw.resume_subscription(ref, idempotency_key="r1", now=clock())
    assert resumed.cancel_at is None and resumed.status == "active"
    assert stripe_server.subscription(ref)["cancel_at"] is None
