"""Monthly fees on Stripe Billing: the real ``stripe`` SDK against the test suite's
Stripe-compatible server, with signed webhooks, on both databases.

The server bills by its clock (the app's frozen clock): a test moves the clock and calls
``advance_billing`` for what Stripe would have done by then, then delivers the recorded events
as Stripe would (or does not, to lose them). Stripe's own retries are off here
(``retry_days=()``, the subscription left past due): retries and dunning are ours.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from schiller40.billing import service
from schiller40.billing.models import (
    BillingPeriod,
    PeriodKind,
    PeriodStatus,
    Subscription,
    SubscriptionStatus,
)
from schiller40.billing.settings import current_billing
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.membership.models import Membership, MembershipStatus
from schiller40.payments.models import WebhookEvent
from schiller40.payments.setup import gateway
from schiller40.payments.stripe_billing import midnight, price_lookup_key, product_id
from tests.helpers import count_rows, local, log_in
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    WEBHOOK_SECRET,
    _stripe_server_process,
    deliver,
    stripe_config,
    stripe_server,
)
from tests.payments.stripe_server import StripeServer

from .conftest import urls


@pytest.fixture
def app_config(stripe_config):  # noqa: F811
    return stripe_config


@pytest.fixture
def server(stripe_server: StripeServer) -> StripeServer:  # noqa: F811
    stripe_server.retry_days = ()  # Smart Retries off: the retries are ours
    stripe_server.after_final_failure = "past_due"  # "leave the subscription past due"
    return stripe_server


def sdk(server: StripeServer) -> stripe.StripeClient:
    """Stripe's dashboard, as far as the tests need it."""
    return stripe.StripeClient(server.api_key, base_addresses={"api": server.base_url},
                               max_network_retries=0)


def start(place, clock, *, starts_on=date(2026, 12, 17), method="card") -> Subscription:
    return service.start_subscription(
        db.session, gateway(), member=place.member, tier_id=place.flex.id, starts_on=starts_on,
        payment_method=method, now=clock(), settings=current_billing(), urls=urls,
    )


def fresh(sub_id: int) -> Subscription:
    db.session.expire_all()
    sub = db.session.get(Subscription, sub_id)
    assert sub is not None
    return sub


def membership_of(sub: Subscription) -> Membership:
    return db.session.scalars(
        select(Membership).where(Membership.subscription_id == sub.id)).one()


def send(client, events: list[dict[str, Any]]) -> list[str]:
    """Deliver events signed as Stripe signs them; the app's answers ("handled", ...)."""
    results = []
    for event in events:
        response = deliver(client, event)
        assert response.status_code == 200, response.get_data(as_text=True)
        results.append(response.get_json()["result"])
    return results


def new_events(server: StripeServer, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    known = {e["id"] for e in seen}
    fresh_ones = [e for e in server.events if e["id"] not in known]
    seen.extend(fresh_ones)
    return fresh_ones


def sign_up(client, server, place, clock, *, method="card", starts_on=date(2026, 12, 17),
            seen: list | None = None) -> Subscription:
    """Sign up, pay on Stripe's Checkout page, and let Stripe's webhooks arrive."""
    seen = [] if seen is None else seen
    sub = start(place, clock, starts_on=starts_on, method=method)
    server.complete_checkout(sub.checkout_id, payment_method=method)
    send(client, new_events(server, seen))
    return fresh(sub.id)


def worker(clock) -> service.BillingReport:
    return service.run_billing(db.session, gateway(), now=clock(), settings=current_billing())


def to(clock, server: StripeServer, day: date, hour: int = 6) -> None:
    clock.set(local(day, hour))
    server.advance_billing()


# --- signing up --------------------------------------------------------------------------


def test_sign_up_by_card_charges_our_prorated_amount_on_the_tier_price(
        client, server, billing_place, clock):
    place = billing_place
    sub = start(place, clock)
    session = server.session(sub.checkout_id)
    assert session["mode"] == "subscription" and session["payment_method_types"] == ["card"]
    # the rest of December (15 of 31 days of 89 €), ours to the cent, on the first invoice
    assert session["amount_total"] == 4306
    assert [(line["unit_amount"], line["quantity"]) for line in server.line_items(
        sub.checkout_id)] == [(8900, 1), (4306, 1)]  # the tier's price and our first month
    server.complete_checkout(sub.checkout_id, payment_method="card")
    results = send(client, server.events)
    assert "handled" in results

    sub = fresh(sub.id)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert (sub.payment_method.value, sub.payment_method_label) == ("card", "Visa •••• 4242")
    assert sub.mandate_reference is None and sub.paid_through == date(2026, 12, 31)
    [first] = sub.periods
    assert (first.kind, first.status, first.amount_cents, first.period_start,
            first.period_end) == (PeriodKind.FIRST, PeriodStatus.PAID, 4306,
                                  date(2026, 12, 17), date(2026, 12, 31))
    assert first.gateway_charge_id and first.gateway_charge_id.startswith("ch_")
    membership = membership_of(sub)
    assert (membership.tier_id, membership.valid_from, membership.paid_through) == (
        place.flex.id, date(2026, 12, 17), date(2026, 12, 31))

    remote = server.subscription(sub.gateway_subscription_id)
    item = remote["items"]["data"][0]
    assert remote["billing_cycle_anchor"] == midnight(date(2027, 1, 1))
    assert item["current_period_end"] == midnight(date(2027, 1, 1))
    assert item["price"]["lookup_key"] == price_lookup_key(place.flex.id)
    assert item["price"]["product"] == product_id(place.flex.id)
    assert (item["price"]["unit_amount"], item["price"]["tax_behavior"]) == (8900, "inclusive")
    assert remote["metadata"]["subscription_id"] == str(sub.id)
    customer = server.customer(sub.customer_ref)
    assert customer["metadata"]["schiller40_user_id"] == str(place.member.id)
    assert customer["email"] == "mia@example.org"


def test_a_second_sign_up_of_the_member_reuses_the_stripe_customer(
        client, server, billing_place, clock):
    first = sign_up(client, server, billing_place, clock)
    sdk(server).v1.subscriptions.cancel(first.gateway_subscription_id)
    send(client, server.events_of_type("customer.subscription.deleted"))
    assert fresh(first.id).status is SubscriptionStatus.ENDED
    again = start(billing_place, clock, starts_on=date(2027, 1, 1))
    assert server.session(again.checkout_id)["customer"] == first.customer_ref
    assert server.created_count("customer") == 1


def test_sign_up_by_sepa_counts_the_month_only_once_the_debit_has_settled(
        client, server, billing_place, clock):
    sub = sign_up(client, server, billing_place, clock, method="sepa_debit")
    # the debit is processing: Stripe keeps the subscription incomplete, and so do we
    assert sub.status is SubscriptionStatus.INCOMPLETE
    assert sub.paid_through is None and count_rows(Membership) == 0
    [first] = sub.periods
    assert (first.status, first.attempts, first.failure_message) == (PeriodStatus.OPEN, 1, None)
    reference = sub.mandate_reference
    assert reference and sub.payment_method_label == "DE •••• 3000"
    log_in(client, billing_place.member)
    client.post("/language", data={"lang": "en", "next": "/"})
    page = client.get("/account/membership/subscription").get_data(as_text=True)
    assert reference in page and "waiting for the first payment" in page
    assert 'id="payment-processing"' in page and "being collected" in page
    assert "Continue to payment" not in page  # the checkout is done; the bank is slow

    [invoice_id] = [first.gateway_invoice_id]
    intent = server.invoice(invoice_id)
    seen = list(server.events)
    pi = next(e["data"]["object"]["id"] for e in seen if e["type"] == "payment_intent.processing")
    assert intent["status"] == "open"
    server.finish_async(pi)
    assert send(client, new_events(server, seen)).count("handled") >= 1
    sub = fresh(sub.id)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.paid_through == date(2026, 12, 31) and sub.mandate_reference == reference
    assert membership_of(sub).paid_through == date(2026, 12, 31)
    page = client.get("/account/membership/subscription").get_data(as_text=True)
    assert reference in page


def test_a_mandate_revoked_with_its_method_is_mirrored(client, server, billing_place, clock):
    seen: list = []
    sub = sign_up(client, server, billing_place, clock, method="sepa_debit",
                  starts_on=date(2027, 1, 1), seen=seen)
    assert sub.mandate_reference
    method = server.subscription(sub.gateway_subscription_id)["default_payment_method"]
    sdk(server).v1.payment_methods.detach(method)
    events = new_events(server, seen)
    [revoked] = [e for e in events if e["type"] == "mandate.updated"]
    assert send(client, [revoked]) == ["handled"]  # first, alone: found by its reference
    sub = fresh(sub.id)
    assert (sub.mandate_reference, sub.payment_method_label) == (None, "")
    assert sub.can_update_payment_method()


def test_sepa_from_the_first_of_next_month_shows_the_mandate_before_the_first_debit(
        client, server, billing_place, clock):
    sub = sign_up(client, server, billing_place, clock, method="sepa_debit",
                  starts_on=date(2027, 1, 1))
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.periods == [] and sub.paid_through is None
    assert sub.mandate_reference  # for the pre-notification, before anything is debited
    assert membership_of(sub).valid_from == date(2027, 1, 1)
    assert server.session(sub.checkout_id)["amount_total"] == 0
    seen = list(server.events)
    to(clock, server, date(2027, 1, 1))
    send(client, new_events(server, seen))
    sub = fresh(sub.id)
    [first] = sub.periods
    assert (first.kind, first.amount_cents, first.status) == (
        PeriodKind.FIRST, 8900, PeriodStatus.OPEN)
    assert (first.period_start, first.period_end) == (date(2027, 1, 1), date(2027, 1, 31))
    assert sub.paid_through is None  # processing is not paid
    server.sepa_settlement_days = 3
    to(clock, server, date(2027, 1, 4))
    send(client, new_events(server, seen))
    sub = fresh(sub.id)
    assert sub.periods[0].status is PeriodStatus.PAID
    assert sub.paid_through == date(2027, 1, 31)


# --- renewals and dunning ----------------------------------------------------------------


def test_a_renewal_is_paid_on_the_first(client, server, billing_place, clock):
    seen: list = []
    sub = sign_up(client, server, billing_place, clock, seen=seen)
    to(clock, server, date(2027, 1, 1))
    assert "handled" in send(client, new_events(server, seen))
    sub = fresh(sub.id)
    assert [(p.kind, p.period_start, p.status) for p in sub.periods] == [
        (PeriodKind.FIRST, date(2026, 12, 17), PeriodStatus.PAID),
        (PeriodKind.RENEWAL, date(2027, 1, 1), PeriodStatus.PAID),
    ]
    assert sub.paid_through == date(2027, 1, 31)
    assert (sub.current_period_start, sub.current_period_end) == (
        date(2027, 1, 1), date(2027, 1, 31))


def test_a_failed_renewal_goes_past_due_then_suspended_and_paying_again_makes_it_active(
        client, server, billing_place, clock):
    place = billing_place
    seen: list = []
    sub = sign_up(client, server, place, clock, seen=seen)
    server.decline(sub.customer_ref)
    to(clock, server, date(2027, 1, 1))
    send(client, new_events(server, seen))
    sub = fresh(sub.id)
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert sub.past_due_since == date(2027, 1, 1) and sub.paid_through == date(2026, 12, 31)
    renewal = sub.periods[-1]
    assert (renewal.status, renewal.attempts) == (PeriodStatus.FAILED, 1)
    assert renewal.failure_message == "Your card was declined."

    # our retries (3, 5, 7 days after the failure), by the worker: still declined
    for day in (4, 6, 8):
        to(clock, server, date(2027, 1, day))
        worker(clock)
        send(client, new_events(server, seen))
    sub = fresh(sub.id)
    assert sub.status is SubscriptionStatus.PAST_DUE and sub.periods[-1].attempts == 4

    # the grace period is over: suspended, the membership paused
    to(clock, server, date(2027, 1, 15))
    worker(clock)
    sub = fresh(sub.id)
    assert sub.status is SubscriptionStatus.SUSPENDED
    assert membership_of(sub).status is MembershipStatus.PAUSED

    # a new card through Stripe's setup checkout; its webhook collects what is owed
    server.stop_declining(sub.customer_ref)
    log_in(client, place.member)
    url = service.open_method_update(
        db.session, gateway(), member=place.member, payment_method="card", now=clock(),
        urls=service.CheckoutUrls(success="http://localhost/ok", cancel="http://localhost/no"),
    )
    setup_id = url.rsplit("/", 1)[-1]
    assert server.session(setup_id)["mode"] == "setup"
    server.complete_checkout(setup_id, payment_method="card")
    send(client, new_events(server, seen))
    sub = fresh(sub.id)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.periods[-1].status is PeriodStatus.PAID
    assert sub.paid_through == date(2027, 1, 31)
    assert membership_of(sub).status is MembershipStatus.ACTIVE
    remote = server.subscription(sub.gateway_subscription_id)
    assert remote["status"] == "active"
    assert remote["default_payment_method"] != server.events_of_type(
        "payment_method.attached")[0]["data"]["object"]["id"]
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"subscription.past_due", "subscription.suspended",
            "subscription.reactivated"} <= actions


def test_a_subscription_deleted_in_the_dashboard_ends_the_membership(
        client, server, billing_place, clock):
    seen: list = []
    sub = sign_up(client, server, billing_place, clock, seen=seen)
    clock.set(local(date(2026, 12, 20), 11))
    sdk(server).v1.subscriptions.cancel(sub.gateway_subscription_id)
    assert send(client, new_events(server, seen)) == ["handled"]
    sub = fresh(sub.id)
    assert sub.status is SubscriptionStatus.ENDED
    membership = membership_of(sub)
    assert membership.valid_until == date(2026, 12, 19)


# --- events replayed, reordered, lost ------------------------------------------------------


def test_replayed_and_reordered_events_never_move_anything_backwards(
        client, server, billing_place, clock):
    seen: list = []
    sub = sign_up(client, server, billing_place, clock, seen=seen)
    server.decline(sub.customer_ref, times=1)
    to(clock, server, date(2027, 1, 1))
    failed = new_events(server, seen)
    send(client, failed)
    assert fresh(sub.id).status is SubscriptionStatus.PAST_DUE
    to(clock, server, date(2027, 1, 4))
    worker(clock)  # our retry pays it
    paid = new_events(server, seen)
    assert fresh(sub.id).status is SubscriptionStatus.ACTIVE

    def state() -> tuple:
        s = fresh(sub.id)
        return (s.status, s.paid_through, [(p.id, p.status) for p in s.periods],
                count_rows(Membership), count_rows(BillingPeriod))

    before = state()
    # the paid events arrive, then the old failure ones, late and in reverse
    results = send(client, paid + list(reversed(failed)))
    assert "duplicate" in results  # the failure events were already handled
    assert state() == before
    # every event once more: a replay does nothing
    events_before = count_rows(WebhookEvent)
    assert set(send(client, seen)) == {"duplicate"}
    assert state() == before and count_rows(WebhookEvent) == events_before
    # an old snapshot with a new id (as Stripe resends) is only a trigger: still active
    stale = json.loads(json.dumps(next(e for e in failed
                                       if e["type"] == "customer.subscription.updated")))
    stale["id"] = "evt_stale_copy"
    assert send(client, [stale]) == ["handled"]
    assert state() == before


def test_a_lost_completion_webhook_is_repaired_by_the_worker(
        client, server, billing_place, clock):
    sub = start(billing_place, clock)
    server.complete_checkout(sub.checkout_id, payment_method="card")  # no webhook arrives
    assert fresh(sub.id).status is SubscriptionStatus.INCOMPLETE
    clock.advance(timedelta(minutes=5))
    worker(clock)
    sub = fresh(sub.id)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.paid_through == date(2026, 12, 31)
    # webhooks work as a rule: a running subscription is asked about every ten minutes only

    def fetches() -> int:
        return sum(1 for r in server.request_log
                   if r.method == "GET" and r.path.startswith("/v1/subscriptions/"))

    before = fetches()
    clock.advance(timedelta(minutes=3))
    worker(clock)
    assert fetches() == before
    clock.advance(timedelta(minutes=10))
    worker(clock)
    assert fetches() == before + 1
    # a renewal whose webhooks are lost too
    to(clock, server, date(2027, 1, 1))
    worker(clock)
    assert fresh(sub.id).paid_through == date(2027, 1, 31)


def test_a_checkout_whose_answer_was_lost_is_adopted_from_its_webhook(
        client, server, billing_place, clock):
    sub = start(billing_place, clock)
    checkout_id = sub.checkout_id
    fresh(sub.id).checkout_id = None  # the answer never came
    db.session.commit()
    server.complete_checkout(checkout_id, payment_method="card")
    send(client, server.events)
    sub = fresh(sub.id)
    assert sub.checkout_id == checkout_id and sub.status is SubscriptionStatus.ACTIVE


def test_events_about_subscriptions_not_ours_are_ignored(client, server, billing_place, clock):
    api = sdk(server)
    product = api.v1.products.create({"name": "Someone else's"})
    price = api.v1.prices.create({"currency": "eur", "unit_amount": 500, "product": product.id,
                                  "recurring": {"interval": "month"}})
    other = api.v1.checkout.sessions.create({
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": "https://example.org/ok", "cancel_url": "https://example.org/no"})
    server.complete_checkout(other.id, payment_method="card")
    results = send(client, server.events)
    assert set(results) == {"ignored"}
    assert count_rows(Subscription) == 0


# --- the tier's price -----------------------------------------------------------------------


def test_a_changed_fee_makes_a_new_price_and_keeps_the_old_one_for_existing_members(
        client, server, billing_place, clock, app):
    place = billing_place
    sub = sign_up(client, server, place, clock)
    old_price = server.subscription(sub.gateway_subscription_id)["items"]["data"][0]["price"]
    db.session.get(type(place.flex), place.flex.id).monthly_price_cents = 9900
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["payments", "stripe-prices"])
    assert result.exit_code == 0, result.output
    assert "flex: price_" in result.output and "99.00 EUR a month" in result.output
    api = sdk(server)
    [current] = api.v1.prices.list({"lookup_keys": [price_lookup_key(place.flex.id)]}).data
    assert (current.unit_amount, current.active, current.product) == (
        9900, True, product_id(place.flex.id))
    assert api.v1.prices.retrieve(old_price["id"]).active is False
    # running it again changes nothing
    again = app.test_cli_runner().invoke(args=["payments", "stripe-prices"])
    assert current.id in again.output
    assert server.created_count("price") == 2 + 1  # two tier prices and the one-time line
    # the member keeps paying 89 €; the renewal still comes from the archived price
    to(clock, server, date(2027, 1, 1))
    worker(clock)
    assert fresh(sub.id).periods[-1].amount_cents == 8900
