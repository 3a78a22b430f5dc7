"""The subscription calls of the gateway interface: the simulation behaves like Stripe
Billing where the service relies on it (idempotent retries, proration, cancel at a date,
found again by our id)."""

from __future__ import annotations

from datetime import date, timedelta

from schiller40.payments.setup import gateway
from schiller40.payments.stripe_gateway import StripeGateway
from tests.helpers import local

from .test_service import start


def test_stripe_bills_on_its_own():
    # (its subscription calls: tests/payments/test_stripe_billing_gateway.py and
    # tests/billing/test_stripe_flow.py)
    stripe = StripeGateway("sk_test_not_used")
    assert stripe.run_billing(now=None) == 0  # type: ignore[arg-type]


def test_simulated_subscription_calls(billing_place, clock):
    sim = gateway()
    sub = start(billing_place, clock, method="card")
    done = sim.complete_subscription_checkout(sub.checkout_id, payment_method="card",
                                              iban=None, now=clock())
    remote = done.subscription
    assert remote is not None and remote.status == "active" and remote.local_id == sub.id
    assert [i.amount_cents for i in remote.invoices] == [4306]
    # found again by our id, for a create whose answer was lost
    assert [r.id for r in sim.find_subscriptions(sub.id, since=clock() - timedelta(hours=1))] == [
        remote.id]
    # renewals on the 1st; a failing charge stays open, a retry with the same key is one try
    sim.set_failing(remote.id, True, now=clock())
    clock.set(local(date(2027, 1, 1), 3))
    assert sim.run_billing(now=clock()) == 1
    assert sim.run_billing(now=clock()) == 0
    invoice = sim.get_subscription(remote.id, now=clock()).invoices[-1]
    assert (invoice.status, invoice.attempt_count, invoice.billing_reason) == (
        "open", 1, "subscription_cycle")
    again = sim.pay_invoice(invoice.id, idempotency_key="k1", now=clock())
    assert again.attempt_count == 2
    assert sim.pay_invoice(invoice.id, idempotency_key="k1", now=clock()).attempt_count == 2
    assert sim.get_subscription(remote.id, now=clock()).status == "past_due"
    sim.set_failing(remote.id, False, now=clock())
    paid = sim.pay_invoice(invoice.id, idempotency_key="k2", now=clock())
    assert paid.status == "paid" and paid.charge_id
    assert sim.get_subscription(remote.id, now=clock()).status == "active"
    # two seats from the 17th: the difference for 15 of 31 days, charged at once
    changed = sim.change_subscription(remote.id, unit_amount_cents=8900, quantity=2,
                                      proration_date=date(2027, 1, 17), idempotency_key="c1",
                                      now=clock())
    proration = changed.invoices[-1]
    assert (proration.billing_reason, proration.amount_cents, proration.status) == (
        "subscription_update", 4306, "paid")
    # cancelled after 31 January: no February invoice
    sim.cancel_subscription(remote.id, at=date(2027, 1, 31), idempotency_key="x", now=clock())
    clock.set(local(date(2027, 2, 1), 3))
    sim.run_billing(now=clock())
    final = sim.get_subscription(remote.id, now=clock())
    assert final.status == "canceled" and len(final.invoices) == 3
