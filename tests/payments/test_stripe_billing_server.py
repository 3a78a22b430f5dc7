"""Stripe Billing on the fake Stripe server, exercised through the real ``stripe`` SDK.

Customers, products and prices, Checkout in subscription and setup mode, subscriptions and
their invoices, renewals, failed payments and retries (moved along with the test clock and
:meth:`StripeServer.advance_billing`), SEPA mandates and webhooks. No database needed.
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

from .stripe_invoicing import add_interval, prorate
from .stripe_server import API_VERSION, ControlError, StripeServer, signed_headers
from .test_stripe_server import API_KEY, make_client

JAN17 = datetime(2027, 1, 17, tzinfo=UTC)
FEB1 = datetime(2027, 2, 1, tzinfo=UTC)
MONTHLY = 4900
SECRET = "whsec_billing"
URLS = {"success_url": "https://book.example.org/member?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://book.example.org/tarife"}


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


@pytest.fixture(scope="module")
def stripe_clock() -> FrozenClock:
    return FrozenClock(JAN17)


@pytest.fixture(scope="module")
def module_server(stripe_clock: FrozenClock) -> Iterator[StripeServer]:
    with StripeServer(API_KEY, clock=stripe_clock) as server:
        yield server


@pytest.fixture
def jan17(module_server: StripeServer, stripe_clock: FrozenClock) -> StripeServer:
    """The server, emptied, on 17 January 2027, midnight UTC."""
    module_server.reset()
    stripe_clock.set(JAN17)
    return module_server


@pytest.fixture
def client(jan17: StripeServer) -> stripe.StripeClient:
    return make_client(jan17)


@pytest.fixture
def price(jan17, client):
    product = client.v1.products.create({"name": "Membership", "metadata": {"tier": "standard"}})
    return client.v1.prices.create({
        "currency": "eur", "unit_amount": MONTHLY, "product": product.id,
        "recurring": {"interval": "month"}, "lookup_key": "membership-standard",
    })


def another_price(client: stripe.StripeClient, price: stripe.Price, amount: int,
                  interval: str = "month", **extra: Any) -> stripe.Price:
    """A further price of the same product (prices are immutable: a new amount is a new price)."""
    return client.v1.prices.create({"currency": "eur", "unit_amount": amount,
                                    "product": price.product, "recurring": {"interval": interval},
                                    **extra})


def subscribe(server: StripeServer, client: stripe.StripeClient,
              price_id: str, method: str = "card", **overrides: Any) -> stripe.Subscription:
    """A subscription-mode Checkout the customer completes with ``method``."""
    session = client.v1.checkout.sessions.create({
        "mode": "subscription", "line_items": [{"price": price_id, "quantity": 1}],
        "payment_method_types": ["card", "sepa_debit"], "customer_email": "mia@example.org",
        **URLS, **overrides,
    })
    done = server.complete_checkout(session.id, payment_method=method)
    return client.v1.subscriptions.retrieve(done["subscription"],
                                            {"expand": ["latest_invoice"]})


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def advance(server: StripeServer, clock, to: datetime) -> list[str]:
    clock.set(to)
    return types(server.advance_billing())


# --- customers, products, prices --------------------------------------------------------------

def test_customer_create_is_idempotent_and_can_be_found(jan17, client):
    params = {"email": "mia@example.org", "name": "Mia Wolf", "metadata": {"member_id": "7"}}
    first = client.v1.customers.create(params, {"idempotency_key": "member-7"})
    again = client.v1.customers.create(params, {"idempotency_key": "member-7"})
    assert again.id == first.id and jan17.created_count("customer") == 1
    assert isinstance(first, stripe.Customer) and first.id.startswith("cus_test_")
    client.v1.customers.create({"email": "jonas@example.org"})

    updated = client.v1.customers.update(first.id, {"name": "Mia W.",
                                                    "metadata": {"tier": "standard"}})
    assert updated.name == "Mia W."
    assert updated.metadata.to_dict() == {"member_id": "7", "tier": "standard"}
    assert client.v1.customers.update(
        first.id, {"metadata": {"tier": ""}}).metadata.to_dict() == {"member_id": "7"}
    assert client.v1.customers.retrieve(first.id).email == "mia@example.org"
    listed = client.v1.customers.list({"email": "mia@example.org"})
    assert [c.id for c in listed.data] == [first.id]
    found = client.v1.customers.search({"query": "metadata['member_id']:'7'"})
    assert [c.id for c in found.data] == [first.id]
    assert client.v1.customers.search({"query": "email:'nobody@example.org'"}).data == []
    event = jan17.events_of_type("customer.updated")[0]
    assert event["data"]["previous_attributes"]["name"] == "Mia Wolf"


def test_prices_are_immutable_and_lookup_keys_unique(jan17, client, price):
    assert (price.type, price.unit_amount, price.currency) == ("recurring", MONTHLY, "eur")
    assert (price.recurring.interval, price.recurring.interval_count) == ("month", 1)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.prices.update(price.id, {"unit_amount": 5900})  # type: ignore[typeddict-unknown-key]
    assert raised.value.param == "unit_amount"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        another_price(client, price, 5900, lookup_key="membership-standard")
    assert raised.value.param == "lookup_key"
    newer = another_price(client, price, 5900, lookup_key="membership-standard",
                          transfer_lookup_key=True)
    found = client.v1.prices.list({"lookup_keys": ["membership-standard"],
                                   "expand": ["data.product"]})
    assert [p.id for p in found.data] == [newer.id]
    assert found.data[0].product.name == "Membership"
    assert client.v1.prices.retrieve(price.id).lookup_key is None
    client.v1.prices.update(price.id, {"active": False})
    assert [p.id for p in client.v1.prices.list({"active": True}).data] == [newer.id]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create({
            "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}], **URLS})
    assert raised.value.param == "line_items[0][price]"


# --- subscription checkout ----------------------------------------------------------------------

def test_card_subscription_checkout(jan17, client, price):
    session = client.v1.checkout.sessions.create({
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
        "payment_method_types": ["card"], "customer_email": "mia@example.org",
        "client_reference_id": "member-7", "metadata": {"member_id": "7"},
        "subscription_data": {"metadata": {"member_id": "7"}},
        "expires_at": ts(JAN17 + timedelta(hours=1)), **URLS,
    })
    jan17.clear_events()
    assert (session.mode, session.status, session.amount_total) == ("subscription", "open",
                                                                    MONTHLY)
    assert session.subscription is None and session.customer is None
    done = jan17.complete_checkout(session.id)
    assert (done["status"], done["payment_status"]) == ("complete", "paid")

    sub = client.v1.subscriptions.retrieve(done["subscription"], {
        "expand": ["latest_invoice.payments.data.payment.payment_intent", "customer",
                   "default_payment_method"]})
    assert isinstance(sub, stripe.Subscription)
    assert sub.status == "active" and sub.metadata.to_dict() == {"member_id": "7"}
    assert sub.customer.email == "mia@example.org" and sub.customer.id == done["customer"]
    assert sub.default_payment_method.type == "card"
    assert sub.default_payment_method.card.last4 == "4242"
    [item] = sub["items"].data
    assert item.price.id == price.id and item.quantity == 1
    assert (item.current_period_start, item.current_period_end) == (
        ts(JAN17), ts(datetime(2027, 2, 17, tzinfo=UTC)))
    assert sub.billing_cycle_anchor == ts(JAN17)
    invoice = sub.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.billing_reason) == ("paid", "subscription_create")
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (
        MONTHLY, MONTHLY, 0)
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.attempt_count == 1 and invoice.next_payment_attempt is None
    [line] = invoice.lines.data
    assert line.pricing.price_details.price == price.id
    assert (line.period.start, line.period.end) == (item.current_period_start,
                                                    item.current_period_end)
    [payment] = invoice.payments.data
    assert payment.payment.payment_intent.status == "succeeded"
    assert payment.payment.payment_intent.amount_received == MONTHLY
    assert client.v1.checkout.sessions.retrieve(session.id).invoice == invoice.id
    page = requests.get(invoice.hosted_invoice_url, timeout=5)
    assert page.status_code == 200 and "49.00 EUR" not in page.text and "paid" in page.text

    assert types(jan17.events) == [
        "customer.created", "payment_method.attached", "customer.subscription.created",
        "invoice.created", "invoice.finalized", "payment_intent.succeeded", "invoice.paid",
        "invoice.payment_succeeded", "customer.subscription.updated",
        "checkout.session.completed"]
    created = jan17.events_of_type("customer.subscription.created")[0]
    assert created["data"]["object"]["status"] == "incomplete"  # a snapshot, not the object now
    updated = jan17.events_of_type("customer.subscription.updated")[0]
    assert updated["data"]["previous_attributes"]["status"] == "incomplete"


@pytest.mark.parametrize(("today", "anchor", "expected"), [
    # 17 January to 1 February: 15 of January's 31 days
    (JAN17, FEB1, 2371),
    # 17 February to 1 March: 12 of February's 28 days
    (datetime(2027, 2, 17, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC), 2100),
])
def test_first_invoice_is_prorated_up_to_the_anchor(jan17, client, price, stripe_clock,
                                                    today, anchor, expected):
    assert expected == prorate(MONTHLY, ts(anchor) - ts(today),
                               ts(anchor) - add_interval(ts(anchor), "month", -1, ts(anchor)))
    stripe_clock.set(today)
    sub = subscribe(jan17, client, price.id,
                    subscription_data={"billing_cycle_anchor": ts(anchor),
                                       "proration_behavior": "create_prorations"})
    invoice = sub.latest_invoice
    assert (invoice.amount_due, invoice.status) == (expected, "paid")
    [line] = invoice.lines.data
    assert line.parent.subscription_item_details.proration is True
    assert (line.period.start, line.period.end) == (ts(today), ts(anchor))
    assert sub.billing_cycle_anchor == ts(anchor)
    assert sub["items"].data[0].current_period_end == ts(anchor)

    advance(jan17, stripe_clock, anchor)
    [renewal] = client.v1.invoices.list({"subscription": sub.id,
                                         "created": {"gte": ts(anchor)}}).data
    assert (renewal.amount_paid, renewal.billing_reason) == (MONTHLY, "subscription_cycle")


def test_no_proration_makes_the_stub_free(jan17, client, price):
    session = client.v1.checkout.sessions.create({
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}], **URLS,
        "subscription_data": {"billing_cycle_anchor": ts(FEB1), "proration_behavior": "none"}})
    assert session.amount_total == 0
    done = jan17.complete_checkout(session.id)
    assert done["payment_status"] == "no_payment_required"
    invoice = client.v1.invoices.retrieve(done["invoice"], {"expand": ["payments"]})
    assert (invoice.status, invoice.amount_due, invoice.payments.data) == ("paid", 0, [])


@pytest.mark.parametrize(("change", "param"), [
    ({"line_items": [{"price_data": {"currency": "eur", "unit_amount": 1,
                                     "product_data": {"name": "x"}}, "quantity": 1}]},
     "line_items"),  # a one-time price rides along with a recurring one, never alone
    ({"line_items": [{"price": "price_test_nope", "quantity": 1}]}, "line_items[0][price]"),
    ({"subscription_data": {"billing_cycle_anchor": ts(JAN17 - timedelta(days=1))}},
     "subscription_data[billing_cycle_anchor]"),
    ({"subscription_data": {"billing_cycle_anchor": ts(datetime(2027, 2, 18, tzinfo=UTC))}},
     "subscription_data[billing_cycle_anchor]"),
    ({"subscription_data": {"billing_cycle_anchor": ts(FEB1),
                            "proration_behavior": "always_invoice"}},
     "subscription_data[proration_behavior]"),
    ({"subscription_data": {"trial_period_days": 7}}, "subscription_data[trial_period_days]"),
    ({"payment_intent_data": {"capture_method": "manual"}}, "payment_intent_data"),
    ({"payment_method_types": ["paypal"]}, "payment_method_types"),
    ({"customer": "cus_test_nope"}, "id"),
])
def test_invalid_subscription_sessions(jan17, client, price, change, param):
    params = {"mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
              **URLS, **change}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.checkout.sessions.create(params)
    assert raised.value.param == param
    assert jan17.created_count("checkout.session") == 0


def test_existing_customer_and_declined_card_keep_the_session_open(jan17, client,
                                                                   price):
    customer = client.v1.customers.create({"email": "mia@example.org"})
    session = client.v1.checkout.sessions.create({
        "mode": "subscription", "customer": customer.id,
        "line_items": [{"price": price.id, "quantity": 2}], **URLS})
    assert session.amount_total == 2 * MONTHLY
    jan17.decline(customer.id)
    with pytest.raises(ControlError):
        jan17.complete_checkout(session.id)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    jan17.stop_declining(customer.id)
    done = jan17.complete_checkout(session.id)
    assert done["customer"] == customer.id and jan17.created_count("customer") == 1
    assert client.v1.invoices.retrieve(done["invoice"]).amount_paid == 2 * MONTHLY


# --- SEPA ----------------------------------------------------------------------------------------

def test_sepa_subscription_is_incomplete_until_the_debit_settles(jan17, client,
                                                                 price, stripe_clock):
    sub = subscribe(jan17, client, price.id, method="sepa_debit")
    invoice = client.v1.invoices.retrieve(sub.latest_invoice.id, {
        "expand": ["payments.data.payment.payment_intent.latest_charge"]})
    intent = invoice.payments.data[0].payment.payment_intent
    assert (sub.status, invoice.status, intent.status) == ("incomplete", "open", "processing")
    session = jan17.events_of_type("checkout.session.completed")[0]["data"]["object"]
    assert session["payment_status"] == "unpaid"
    mandate_id = intent.latest_charge.payment_method_details.sepa_debit.mandate
    mandate = client.v1.mandates.retrieve(mandate_id)
    assert (mandate.status, mandate.type) == ("active", "multi_use")
    reference = mandate.payment_method_details.sepa_debit.reference
    assert len(reference) == 16 and reference.isalnum()
    assert mandate.payment_method == sub.default_payment_method
    assert types(jan17.events_of_type("mandate.updated")) == ["mandate.updated"]

    stripe_clock.set(JAN17 + timedelta(days=2))  # pending debits do not expire the subscription
    assert jan17.advance_billing() == []
    jan17.finish_async(intent.id)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert types(jan17.events)[-5:] == [
        "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded",
        "customer.subscription.updated", "checkout.session.async_payment_succeeded"]


def test_failed_first_sepa_debit_expires_the_subscription(jan17, client, price,
                                                          stripe_clock):
    sub = subscribe(jan17, client, price.id, method="sepa_debit")
    payments = client.v1.invoice_payments.list({"invoice": sub.latest_invoice.id})
    intent_id = payments.data[0].payment.payment_intent
    jan17.finish_async(intent_id, succeeded=False)
    assert client.v1.subscriptions.retrieve(sub.id).status == "incomplete"
    assert "checkout.session.async_payment_failed" in types(jan17.events)
    assert advance(jan17, stripe_clock, JAN17 + timedelta(days=1)) == [
        "invoice.voided", "customer.subscription.updated"]
    assert client.v1.subscriptions.retrieve(sub.id).status == "incomplete_expired"
    assert client.v1.invoices.retrieve(sub.latest_invoice.id).status == "void"


def test_sepa_renewals_settle_after_the_configured_days(jan17, client, price,
                                                        stripe_clock):
    jan17.sepa_settlement_days = 3
    sub = subscribe(jan17, client, price.id, method="sepa_debit")
    advance(jan17, stripe_clock, datetime(2027, 2, 17, tzinfo=UTC))
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    renewal = client.v1.invoices.list({"subscription": sub.id}).data[0]
    assert (renewal.billing_reason, renewal.status) == ("subscription_cycle", "open")
    assert advance(jan17, stripe_clock, datetime(2027, 2, 20, tzinfo=UTC)) == [
        "payment_intent.succeeded", "invoice.paid", "invoice.payment_succeeded"]
    jan17.decline(sub.customer, "insufficient_funds", times=1)
    events = advance(jan17, stripe_clock, datetime(2027, 3, 20, tzinfo=UTC))
    assert events[-4:] == ["charge.failed", "payment_intent.payment_failed",
                           "invoice.payment_failed", "customer.subscription.updated"]
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"


# --- renewals, failures, retries -----------------------------------------------------------------

def test_renewal_keeps_the_anchor_day_and_invoices_the_next_period(jan17, client, price,
                                                                   stripe_clock):
    stripe_clock.set(datetime(2027, 1, 31, 9, 30, tzinfo=UTC))
    sub = subscribe(jan17, client, price.id)
    ends = []
    for moment in (datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC)):
        stripe_clock.set(moment)
        jan17.advance_billing()
        ends.append(client.v1.subscriptions.retrieve(sub.id)["items"].data[0].current_period_end)
    assert ends == [ts(datetime(2027, 3, 31, 9, 30, tzinfo=UTC)),
                    ts(datetime(2027, 4, 30, 9, 30, tzinfo=UTC))]
    invoices = client.v1.invoices.list({"subscription": sub.id}).data
    assert [i.billing_reason for i in invoices] == ["subscription_cycle",
                                                    "subscription_cycle",
                                                    "subscription_create"]
    renewal = invoices[1]
    feb28 = ts(datetime(2027, 2, 28, 9, 30, tzinfo=UTC))
    assert renewal.created == feb28  # stamped when it fell due, not when the test looked
    # like Stripe: the invoice's own period is the one that ended; the lines carry the new one
    assert (renewal.period_start, renewal.period_end) == (
        ts(datetime(2027, 1, 31, 9, 30, tzinfo=UTC)), feb28)
    line = renewal.lines.data[0]
    assert (line.period.start, line.period.end) == (feb28, ends[0])
    assert renewal.status == "paid" and renewal.amount_paid == MONTHLY


@pytest.mark.parametrize("final", ["unpaid", "canceled"])
def test_failed_renewal_retries_then_gives_up(jan17, client, price, stripe_clock, final):
    jan17.after_final_failure = final
    sub = subscribe(jan17, client, price.id)
    jan17.decline(sub.default_payment_method)
    jan17.clear_events()
    feb17 = datetime(2027, 2, 17, tzinfo=UTC)
    events = advance(jan17, stripe_clock, feb17)
    assert events == ["customer.subscription.updated", "invoice.created", "invoice.finalized",
                      "charge.failed", "payment_intent.payment_failed",
                      "invoice.payment_failed", "customer.subscription.updated"]
    invoice = client.v1.invoices.list({"subscription": sub.id, "status": "open"}).data[0]
    assert (invoice.attempt_count, invoice.amount_remaining) == (1, MONTHLY)
    assert invoice.next_payment_attempt == ts(feb17 + timedelta(days=3))
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    failed = jan17.events_of_type("invoice.payment_failed")[0]["data"]["object"]
    assert failed["next_payment_attempt"] == ts(feb17 + timedelta(days=3))

    schedule = []
    for days in (3, 8):  # retries 3 days after the first failure, then 5 after that
        advance(jan17, stripe_clock, feb17 + timedelta(days=days))
        retried = client.v1.invoices.retrieve(invoice.id)
        schedule.append((retried.attempt_count, retried.next_payment_attempt))
    assert schedule == [(2, ts(feb17 + timedelta(days=8))), (3, ts(feb17 + timedelta(days=15)))]
    events = advance(jan17, stripe_clock, feb17 + timedelta(days=15))
    last = client.v1.invoices.retrieve(invoice.id)
    assert (last.attempt_count, last.next_payment_attempt, last.status) == (4, None, "open")
    current = client.v1.subscriptions.retrieve(sub.id)
    assert current.status == final
    if final == "canceled":
        assert events[-1] == "customer.subscription.deleted"
        assert current.cancellation_details.reason == "payment_failed"
        assert advance(jan17, stripe_clock, datetime(2027, 4, 1, tzinfo=UTC)) == []
    else:  # unpaid: later periods are invoiced as drafts that are never attempted
        advance(jan17, stripe_clock, datetime(2027, 3, 18, tzinfo=UTC))
        drafts = client.v1.invoices.list({"subscription": sub.id, "status": "draft"}).data
        assert len(drafts) == 1 and drafts[0].attempt_count == 0
        jan17.stop_declining(sub.default_payment_method)
        assert client.v1.invoices.pay(invoice.id).status == "paid"
        assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_update_payment_method_by_setup_checkout_then_pay(jan17, client, price,
                                                          stripe_clock):
    sub = subscribe(jan17, client, price.id)
    old_pm = sub.default_payment_method
    jan17.decline(old_pm, "expired_card")
    advance(jan17, stripe_clock, datetime(2027, 2, 17, tzinfo=UTC))
    invoice = client.v1.invoices.list({"subscription": sub.id, "status": "open"}).data[0]
    with pytest.raises(stripe.CardError) as raised:
        client.v1.invoices.pay(invoice.id)
    assert raised.value.code == "card_declined" and raised.value.http_status == 402
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 2

    setup = client.v1.checkout.sessions.create({
        "mode": "setup", "customer": sub.customer, "payment_method_types": ["sepa_debit"],
        "setup_intent_data": {"metadata": {"subscription_id": sub.id}}, **URLS})
    assert (setup.mode, setup.amount_total) == ("setup", None)
    jan17.clear_events()
    done = jan17.complete_checkout(setup.id, payment_method="sepa_debit")
    assert types(jan17.events) == ["payment_method.attached", "mandate.updated",
                                   "setup_intent.created", "setup_intent.succeeded",
                                   "checkout.session.completed"]
    intent = client.v1.setup_intents.retrieve(done["setup_intent"])
    assert intent.status == "succeeded" and intent.metadata["subscription_id"] == sub.id
    assert client.v1.mandates.retrieve(intent.mandate).payment_method == intent.payment_method
    # as on Stripe, the app sets the new method itself
    assert client.v1.subscriptions.retrieve(sub.id).default_payment_method == old_pm
    client.v1.subscriptions.update(sub.id, {"default_payment_method": intent.payment_method})
    client.v1.customers.update(sub.customer, {
        "invoice_settings": {"default_payment_method": intent.payment_method}})

    paid = client.v1.invoices.pay(invoice.id)  # SEPA: processing until it settles
    assert paid.status == "open"
    [_, _, latest] = client.v1.invoice_payments.list({"invoice": invoice.id}).data[::-1]
    jan17.finish_async(latest.payment.payment_intent)
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert client.v1.invoices.retrieve(invoice.id).next_payment_attempt is None


def test_payment_methods_are_listed_by_customer_and_detached(jan17, client, price):
    sub = subscribe(jan17, client, price.id, method="sepa_debit")
    client.v1.customers.update(sub.customer, {
        "invoice_settings": {"default_payment_method": sub.default_payment_method}})
    listed = client.v1.customers.payment_methods.list(sub.customer)
    assert [pm.id for pm in listed.data] == [sub.default_payment_method]
    assert client.v1.payment_methods.list({"customer": sub.customer, "type": "card"}).data == []
    pm = client.v1.payment_methods.retrieve(sub.default_payment_method)
    assert (pm.type, pm.sepa_debit.last4, pm.customer) == ("sepa_debit", "3000", sub.customer)

    detached = client.v1.payment_methods.detach(pm.id)
    assert detached.customer is None
    assert client.v1.subscriptions.retrieve(sub.id).default_payment_method is None
    customer = client.v1.customers.retrieve(sub.customer)
    assert customer.invoice_settings.default_payment_method is None
    mandate = jan17.events_of_type("mandate.updated")[-1]["data"]["object"]
    assert mandate["status"] == "inactive"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.detach(pm.id)


def test_pay_refuses_paid_and_foreign_methods(jan17, client, price):
    sub = subscribe(jan17, client, price.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.pay(sub.latest_invoice.id)
    assert raised.value.code == "invoice_already_paid"
    other = subscribe(jan17, client, price.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.update(sub.id,
                                       {"default_payment_method": other.default_payment_method})
    assert raised.value.param == "default_payment_method"


# --- changing and cancelling -----------------------------------------------------------------------

def test_upgrade_with_always_invoice_charges_the_difference_now(jan17, client, price,
                                                                stripe_clock):
    sub = subscribe(jan17, client, price.id)
    bigger = another_price(client, price, 9900)
    stripe_clock.set(FEB1)  # 16 of the period's 31 days are left
    item = sub["items"].data[0]
    updated = client.v1.subscriptions.update(sub.id, {
        "items": [{"id": item.id, "price": bigger.id}],
        "proration_behavior": "always_invoice", "expand": ["latest_invoice"]})
    invoice = updated.latest_invoice
    assert invoice.billing_reason == "subscription_update" and invoice.status == "paid"
    amounts = [line.amount for line in invoice.lines.data]
    assert amounts == [-prorate(MONTHLY, 16 * 86400, 31 * 86400),
                       prorate(9900, 16 * 86400, 31 * 86400)] == [-2529, 5110]
    assert invoice.amount_paid == 5110 - 2529
    assert updated["items"].data[0].price.id == bigger.id
    event = jan17.events_of_type("customer.subscription.updated")[-1]
    assert event["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"] == price.id


def test_a_retried_update_invoices_once(jan17, client, price, stripe_clock):
    sub = subscribe(jan17, client, price.id)
    stripe_clock.set(FEB1)
    params = {"items": [{"id": sub["items"].data[0].id, "quantity": 3}],
              "proration_behavior": "always_invoice"}
    first = client.v1.subscriptions.update(sub.id, params, {"idempotency_key": "seats-3"})
    again = client.v1.subscriptions.update(sub.id, params, {"idempotency_key": "seats-3"})
    assert again.latest_invoice == first.latest_invoice
    assert jan17.created_count("invoice") == 2
    assert [r.replayed for r in jan17.request_log][-2:] == [False, True]


def test_prorations_wait_for_the_renewal_or_are_skipped(jan17, client, price,
                                                        stripe_clock):
    sub = subscribe(jan17, client, price.id)
    item = sub["items"].data[0]
    stripe_clock.set(FEB1)
    client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "quantity": 2}]})
    client.v1.subscriptions.update(sub.id, {"metadata": {"note": "x"},
                                            "proration_behavior": "none"})
    assert len(client.v1.invoices.list({"subscription": sub.id}).data) == 1
    advance(jan17, stripe_clock, datetime(2027, 2, 17, tzinfo=UTC))
    renewal = client.v1.invoices.list({"subscription": sub.id}).data[0]
    credit, debit = prorate(MONTHLY, 16 * 86400, 31 * 86400), prorate(2 * MONTHLY, 16 * 86400,
                                                                      31 * 86400)
    assert [line.amount for line in renewal.lines.data] == [-credit, debit, 2 * MONTHLY]
    assert renewal.amount_paid == 2 * MONTHLY + debit - credit


def test_credit_from_a_downgrade_is_kept_as_customer_balance(jan17, client, price,
                                                             stripe_clock):
    sub = subscribe(jan17, client, price.id)
    smaller = another_price(client, price, 1900)
    stripe_clock.set(FEB1)
    updated = client.v1.subscriptions.update(sub.id, {
        "items": [{"id": sub["items"].data[0].id, "price": smaller.id}],
        "proration_behavior": "always_invoice", "expand": ["latest_invoice"]})
    credit = prorate(1900 - MONTHLY, 16 * 86400, 31 * 86400)
    assert (updated.latest_invoice.amount_due, updated.latest_invoice.status) == (0, "paid")
    assert client.v1.customers.retrieve(sub.customer).balance == credit
    advance(jan17, stripe_clock, datetime(2027, 2, 17, tzinfo=UTC))
    renewal = client.v1.invoices.list({"subscription": sub.id}).data[0]
    assert (renewal.starting_balance, renewal.amount_paid) == (credit, 1900 + credit)
    assert client.v1.customers.retrieve(sub.customer).balance == 0


def test_cancel_at_period_end_and_cancel_now(jan17, client, price, stripe_clock):
    sub = subscribe(jan17, client, price.id)
    end = sub["items"].data[0].current_period_end
    updated = client.v1.subscriptions.update(sub.id, {
        "cancel_at_period_end": True, "cancellation_details": {"feedback": "too_expensive"}})
    assert (updated.cancel_at_period_end, updated.cancel_at, updated.status) == (
        True, end, "active")
    assert advance(jan17, stripe_clock, datetime(2027, 3, 1, tzinfo=UTC)) == [
        "customer.subscription.deleted"]
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", end)
    assert ended.cancellation_details.feedback == "too_expensive"
    assert len(client.v1.invoices.list({"subscription": sub.id}).data) == 1

    other = subscribe(jan17, client, price.id)
    client.v1.subscriptions.update(other.id, {"cancel_at": ts(datetime(2027, 3, 10,
                                                                       tzinfo=UTC))})
    client.v1.subscriptions.update(other.id, {"cancel_at": ""})
    gone = client.v1.subscriptions.cancel(other.id)
    assert (gone.status, gone.canceled_at) == ("canceled", ts(datetime(2027, 3, 1, tzinfo=UTC)))
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(other.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.update(other.id, {"cancel_at_period_end": False})
    assert raised.value.param == "cancel_at_period_end"
    noted = client.v1.subscriptions.update(other.id, {"metadata": {"left": "moved away"}})
    assert noted.metadata["left"] == "moved away" and noted.status == "canceled"
    assert noted.canceled_at == gone.canceled_at
    assert client.v1.subscriptions.list({"customer": other.customer}).data == []
    listed = client.v1.subscriptions.list({"customer": other.customer, "status": "canceled"})
    assert [s.id for s in listed.data] == [other.id]


def test_lists_filter_by_customer_subscription_and_creation(jan17, client, price,
                                                            stripe_clock):
    first = subscribe(jan17, client, price.id)
    stripe_clock.set(JAN17 + timedelta(days=1))
    second = subscribe(jan17, client, price.id)
    assert [s.id for s in client.v1.subscriptions.list({"price": price.id}).data] == [
        second.id, first.id]
    assert [i.id for i in client.v1.invoices.list({"customer": first.customer}).data] == [
        first.latest_invoice.id]
    recent = client.v1.invoices.list({"created": {"gt": ts(JAN17)}})
    assert [i.id for i in recent.data] == [second.latest_invoice.id]
    page = client.v1.invoices.list({"limit": 1})
    assert page.has_more and client.v1.invoices.list(
        {"starting_after": page.data[0].id}).data[0].id == first.latest_invoice.id


def test_modify_refuses_what_is_not_modelled(jan17, client, price):
    sub = subscribe(jan17, client, price.id)
    yearly = another_price(client, price, 49000, "year")
    for params, param in (
        ({"billing_cycle_anchor": "now"}, "billing_cycle_anchor"),
        ({"items": [{"id": sub["items"].data[0].id, "price": yearly.id}]}, "items[0][price]"),
        ({"proration_behavior": "sometimes"}, "proration_behavior"),
        ({"trial_end": "now"}, "trial_end"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.subscriptions.update(sub.id, params)
        assert raised.value.param == param


# --- webhooks ----------------------------------------------------------------------------------------

def test_every_billing_event_is_signed_and_verifiable(jan17, client, price, stripe_clock):
    jan17.sepa_settlement_days = 3
    sub = subscribe(jan17, client, price.id, method="sepa_debit")
    jan17.decline(sub.customer, times=1)
    advance(jan17, stripe_clock, datetime(2027, 2, 20, tzinfo=UTC))
    assert {"invoice.paid", "invoice.payment_failed", "customer.subscription.created",
            "mandate.updated", "checkout.session.completed",
            "checkout.session.async_payment_succeeded"} <= set(types(jan17.events))
    for event in jan17.events:
        payload = json.dumps(event)
        header = signed_headers(payload, SECRET)["Stripe-Signature"]
        parsed = stripe.Webhook.construct_event(payload, header, SECRET)
        assert parsed.id == event["id"] and parsed.api_version == API_VERSION
        assert parsed.data.object.id == event["data"]["object"]["id"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(json.dumps(jan17.events[0]),
                                       signed_headers("{}", SECRET)["Stripe-Signature"], SECRET)
