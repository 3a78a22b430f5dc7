"""Monthly fees on the simulated gateway, driven by the clock: sign-up, renewals on the 1st,
a failed renewal, past due, suspended, paid again, ended."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
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
from schiller40.booking.models import BookingStatus
from schiller40.core.audit import AuditEntry
from schiller40.core.outbox import OutboxMessage
from schiller40.errors import Conflict, InvalidInput
from schiller40.extensions import db
from schiller40.membership.models import Membership, MembershipStatus
from schiller40.payments.setup import gateway
from tests.helpers import count_rows, local

from .conftest import urls

IBAN = "DE89370400440532013000"


def start(place, clock, *, starts_on=date(2026, 12, 17), method="sepa_debit"):
    return service.start_subscription(
        db.session, gateway(), member=place.member, tier_id=place.flex.id, starts_on=starts_on,
        payment_method=method, now=clock(), settings=current_billing(), urls=urls,
    )


def subscribe(place, clock, **kw) -> Subscription:
    """Sign up and pay on the simulated checkout, then come back."""
    sub = start(place, clock, **kw)
    gateway().complete_subscription_checkout(
        sub.checkout_id, payment_method=kw.get("method", "sepa_debit"),
        iban=IBAN if kw.get("method", "sepa_debit") == "sepa_debit" else None, now=clock(),
    )
    return service.refresh_checkout(db.session, gateway(), subscription_id=sub.id, now=clock(),
                                    settings=current_billing())


def tick(clock, day: date, hour: int = 6) -> service.BillingReport:
    clock.set(local(day, hour))
    return service.run_billing(db.session, gateway(), now=clock(), settings=current_billing())


def fresh_sub(sub_id: int) -> Subscription:
    db.session.expire_all()
    sub = db.session.get(Subscription, sub_id)
    assert sub is not None
    return sub


def membership_of(sub: Subscription) -> Membership:
    return db.session.scalars(
        select(Membership).where(Membership.subscription_id == sub.id)).one()


def book_desk(place, clock, day: date):
    from tests.helpers import book
    return book(place.member, clock, resource_slug="desk-1", start=local(day, 8),
                end=local(day, 20)).bookings[0]


def topics() -> list[str]:
    return list(db.session.scalars(select(OutboxMessage.topic).order_by(OutboxMessage.id)))


def test_sign_up_today_with_sepa_prorates_and_makes_the_credit_usable_at_once(
        billing_place, clock):
    sub = subscribe(billing_place, clock)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.payment_method.value == "sepa_debit"
    assert sub.payment_method_label == "DE89 •••• 3000"
    assert sub.mandate_reference and sub.mandate_reference.startswith("SIM-")
    assert sub.paid_through == date(2026, 12, 31)
    [first] = sub.periods
    assert (first.kind, first.status, first.amount_cents) == (
        PeriodKind.FIRST, PeriodStatus.PAID, 4306)
    assert (first.days_billed, first.days_in_month) == (15, 31)
    assert first.net_cents + first.tax_cents == 4306 and first.gateway_invoice_id
    membership = membership_of(sub)
    assert (membership.tier_id, membership.valid_from, membership.paid_through) == (
        billing_place.flex.id, date(2026, 12, 17), date(2026, 12, 31))
    booking = book_desk(billing_place, clock, date(2026, 12, 18))
    assert (booking.status, booking.price_gross_cents, booking.credit_half_days) == (
        BookingStatus.CONFIRMED, 0, 2)
    assert "mail.subscription_welcome" in topics()
    # coming back again (reload) changes nothing
    again = service.refresh_checkout(db.session, gateway(), subscription_id=sub.id,
                                     now=clock(), settings=current_billing())
    assert again.status is SubscriptionStatus.ACTIVE
    assert count_rows(BillingPeriod) == 1 and count_rows(Membership) == 1


def test_start_on_the_first_of_next_month_charges_nothing_until_then(billing_place, clock):
    sub = subscribe(billing_place, clock, starts_on=date(2027, 1, 1), method="card")
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.periods == [] and sub.paid_through is None
    assert membership_of(sub).valid_from == date(2027, 1, 1)
    assert service.next_charge(sub) == (date(2027, 1, 1), 8900)
    tick(clock, date(2027, 1, 1))
    sub = fresh_sub(sub.id)
    [first] = sub.periods
    assert (first.kind, first.amount_cents, first.status) == (
        PeriodKind.FIRST, 8900, PeriodStatus.PAID)
    assert sub.paid_through == date(2027, 1, 31)


def test_renewal_on_the_first_of_january_across_the_december_closure(billing_place, clock):
    from schiller40.models import Closure
    db.session.add(Closure(location=billing_place.location, first_day=date(2026, 12, 24),
                           last_day=date(2027, 1, 1), reason="Weihnachten"))
    db.session.commit()
    sub = subscribe(billing_place, clock)
    tick(clock, date(2026, 12, 31), hour=23)
    assert fresh_sub(sub.id).paid_through == date(2026, 12, 31)  # not yet
    report = tick(clock, date(2027, 1, 1), hour=0)
    assert report.billed == 1
    sub = fresh_sub(sub.id)
    renewal = sub.periods[-1]
    assert (renewal.kind, renewal.period_start, renewal.period_end, renewal.amount_cents,
            renewal.status) == (PeriodKind.RENEWAL, date(2027, 1, 1), date(2027, 1, 31), 8900,
                                PeriodStatus.PAID)
    assert sub.paid_through == date(2027, 1, 31) == membership_of(sub).paid_through
    # a second pass the same day bills nothing more
    assert tick(clock, date(2027, 1, 1), hour=1).billed == 0
    assert count_rows(BillingPeriod) == 2


def test_prenotification_before_the_first(billing_place, clock):
    sub = subscribe(billing_place, clock)
    tick(clock, date(2026, 12, 26))
    assert "mail.subscription_prenotice" not in topics()
    tick(clock, date(2026, 12, 27))
    tick(clock, date(2026, 12, 28))
    notices = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.topic == "mail.subscription_prenotice")).all()
    assert len(notices) == 1
    assert notices[0].payload == {"subscription_id": sub.id, "charge_on": "2027-01-01",
                                  "amount_cents": 8900}


def test_failed_renewal_past_due_suspended_then_paid_again(billing_place, clock):
    sub = subscribe(billing_place, clock)
    tick(clock, date(2027, 1, 1))
    service.make_next_renewal_fail(db.session, gateway(), actor=billing_place.staff,
                                   subscription_id=sub.id, now=clock())
    tick(clock, date(2027, 2, 1))
    sub = fresh_sub(sub.id)
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert sub.past_due_since == date(2027, 2, 1)
    failed = sub.periods[-1]
    assert (failed.status, failed.attempts, failed.next_attempt_on) == (
        PeriodStatus.FAILED, 1, date(2027, 2, 4))
    assert sub.paid_through == date(2027, 1, 31)
    assert "mail.subscription_payment_failed" in topics()
    # credit follows the paid period: February is not paid, so a desk costs the tier price
    desk = book_desk(billing_place, clock, date(2027, 2, 2))
    assert (desk.price_gross_cents, desk.credit_half_days) == (1200, 0)
    # retries on days 3, 5, 7 fail too
    for day in (4, 6, 8):
        tick(clock, date(2027, 2, day))
    sub = fresh_sub(sub.id)
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert sub.periods[-1].attempts == 4 and sub.periods[-1].next_attempt_on is None
    # 14 days after the failure: suspended, the membership paused, Tagespass terms apply
    tick(clock, date(2027, 2, 15))
    sub = fresh_sub(sub.id)
    assert sub.status is SubscriptionStatus.SUSPENDED
    assert membership_of(sub).status is MembershipStatus.PAUSED
    assert "mail.subscription_suspended" in topics()
    desk = book_desk(billing_place, clock, date(2027, 2, 16))
    assert desk.price_gross_cents == 1500  # the Tagespass's day price, not Flex's 1200
    # a new payment method: the open charge is collected at once
    url = service.open_method_update(
        db.session, gateway(), member=billing_place.member, payment_method="card",
        now=clock(), urls=urls(sub.id))
    checkout_id = url.rsplit("/", 1)[-1]
    gateway().complete_subscription_checkout(checkout_id, payment_method="card", iban=None,
                                             now=clock())
    sub = service.finish_method_update(db.session, gateway(), member=billing_place.member,
                                       checkout_id=checkout_id, now=clock(),
                                       settings=current_billing())
    sub = fresh_sub(sub.id)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.past_due_since is None
    assert sub.paid_through == date(2027, 2, 28)
    assert sub.payment_method_label == "Visa •••• 4242" and sub.mandate_reference is None
    assert membership_of(sub).status is MembershipStatus.ACTIVE
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"subscription.past_due", "subscription.suspended", "subscription.reactivated",
            "subscription.period_paid", "subscription.period_failed",
            "subscription.method_updated", "subscription.failure_armed"} <= actions


def test_unpaid_past_the_end_days_ends_and_falls_back_to_the_fee_less_tier(
        billing_place, clock):
    sub = subscribe(billing_place, clock)
    tick(clock, date(2027, 1, 1))
    service.make_next_renewal_fail(db.session, gateway(), actor=billing_place.staff,
                                   subscription_id=sub.id, now=clock())
    tick(clock, date(2027, 2, 1))
    tick(clock, date(2027, 2, 15))
    assert fresh_sub(sub.id).status is SubscriptionStatus.SUSPENDED
    tick(clock, date(2027, 3, 16))
    assert fresh_sub(sub.id).status is SubscriptionStatus.SUSPENDED
    tick(clock, date(2027, 3, 17))  # 14 + 30 days after 1 February
    sub = fresh_sub(sub.id)
    assert sub.status is SubscriptionStatus.ENDED
    assert sub.periods[-1].status is PeriodStatus.VOID
    flex = membership_of(sub)
    assert (flex.status, flex.valid_until) == (MembershipStatus.ACTIVE, date(2027, 3, 16))
    day_pass = db.session.scalars(select(Membership).where(
        Membership.tier_id == billing_place.day_pass.id)).one()
    assert day_pass.valid_from == date(2027, 3, 17) and day_pass.valid_until is None
    assert "mail.subscription_ended" in topics()
    # final: nothing moves it any more
    tick(clock, date(2027, 4, 1))
    assert fresh_sub(sub.id).status is SubscriptionStatus.ENDED


def test_refusals(billing_place, clock):
    with pytest.raises(InvalidInput) as bad_day:
        start(billing_place, clock, starts_on=date(2026, 12, 20))
    assert "starts_on" in bad_day.value.fields
    with pytest.raises(InvalidInput):
        start(billing_place, clock, method="cash")
    subscribe(billing_place, clock)
    with pytest.raises(Conflict):
        start(billing_place, clock)


def test_an_abandoned_checkout_is_replaced_or_cancelled(billing_place, clock):
    first = start(billing_place, clock)
    again = start(billing_place, clock)
    assert (again.id, again.checkout_id) == (first.id, first.checkout_id)
    other = start(billing_place, clock, method="card")
    assert other.id != first.id
    assert fresh_sub(first.id).status is SubscriptionStatus.CANCELLED
    clock.advance(timedelta(hours=2))
    tick(clock, date(2026, 12, 17), hour=13)
    assert fresh_sub(other.id).status is SubscriptionStatus.CANCELLED
    assert count_rows(Membership) == 0


def test_a_staff_membership_without_subscription_keeps_its_credit(billing_place, clock, factory):
    factory.membership(user=billing_place.member, tier=billing_place.flex,
                       valid_from=date(2026, 12, 1))
    db.session.commit()
    booking = book_desk(billing_place, clock, date(2026, 12, 18))
    assert booking.price_gross_cents == 0 and booking.credit_half_days == 2
    assert datetime(2026, 12, 17, tzinfo=UTC)  # the clock is the fixture's


def test_deleting_the_account_ends_the_monthly_fee_at_once(billing_place, clock):
    from schiller40.booking.settings import current_settings
    from schiller40.members import privacy
    from tests.factories import PASSWORD

    sub = subscribe(billing_place, clock)
    privacy.delete_account(db.session, gateway(), actor=billing_place.member,
                           user=billing_place.member, password=PASSWORD, now=clock(),
                           settings=current_settings())
    sub = fresh_sub(sub.id)
    assert sub.status is SubscriptionStatus.ENDED
    assert gateway().get_subscription(sub.gateway_subscription_id, now=clock()).status == (
        "canceled")
    assert count_rows(Membership, tier_id=billing_place.day_pass.id) == 0  # no fallback
    # nothing is billed any more
    assert tick(clock, date(2027, 1, 1)).billed == 0


def test_the_data_export_lists_the_monthly_fee_and_its_charges(billing_place, clock):
    from schiller40.members import privacy

    sub = subscribe(billing_place, clock)
    data = privacy.export_data(db.session, user=billing_place.member, now=clock())
    [exported] = data["subscriptions"]
    assert exported["id"] == sub.id and exported["mandate_reference"] == sub.mandate_reference
    assert [c["amount_cents"] for c in exported["charges"]] == [4306]
    assert exported["charges"][0]["net_cents"] + exported["charges"][0]["tax_cents"] == 4306
