"""A member changes or ends their monthly membership, driven by the clock on the simulated
gateway: up on the 17th pro-rated exactly, down applied on the 1st by the worker, cancel with
14 days' notice on the 10th and on the 20th, the end (no renewal after), withdrawing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from schiller40.billing import changes, service
from schiller40.billing.change_models import ChangeKind, ChangeStatus, SubscriptionChange
from schiller40.billing.models import (
    BillingPeriod,
    PeriodKind,
    PeriodStatus,
    Subscription,
    SubscriptionStatus,
)
from schiller40.billing.settings import current_billing
from schiller40.core.audit import AuditEntry
from schiller40.core.outbox import OutboxMessage
from schiller40.errors import DomainError
from schiller40.extensions import db
from schiller40.membership.models import Membership, MembershipStatus, SignupMode, Tier
from schiller40.models import ResourceKind
from schiller40.payments.setup import gateway
from tests.helpers import count_rows, local

from .test_service import fresh_sub, subscribe


@pytest.fixture
def tiers(billing_place, factory):
    startup = factory.tier(signup_mode=SignupMode.SELF_SERVICE, slug="startup", name="Startup", monthly_price_cents=14900,
                           included_desk_days=20, position=2, booking_horizon_days=60,
                           prices={ResourceKind.DESK: (None, 600, 1000)})
    part = factory.tier(signup_mode=SignupMode.SELF_SERVICE, slug="teilzeit", name="Teilzeit", monthly_price_cents=4900,
                        included_desk_days=4, position=3,
                        prices={ResourceKind.DESK: (None, 800, 1400)})
    db.session.commit()
    return type("Tiers", (), dict(startup=startup, part=part))


@pytest.fixture
def fourteen_days():
    """Every tier has 14 days' notice to the end of a month."""
    for tier in db.session.scalars(select(Tier)):
        tier.notice_days = 14
    db.session.commit()


def worker(clock, day: date, hour: int = 6) -> None:
    """One worker pass in the order of the periodic jobs: changes first, then billing."""
    clock.set(local(day, hour))
    changes.apply_due(db.session, gateway(), now=clock(), settings=current_billing())
    service.run_billing(db.session, gateway(), now=clock(), settings=current_billing())


def change(place, clock, slug: str):
    return changes.change_tier(db.session, gateway(), member=place.member, tier_slug=slug,
                               now=clock(), settings=current_billing())


def memberships(place) -> list[tuple[str, date, date | None, MembershipStatus]]:
    db.session.expire_all()
    return [(m.tier.slug, m.valid_from, m.valid_until, m.status) for m in db.session.scalars(
        select(Membership).where(Membership.user_id == place.member.id)
        .order_by(Membership.valid_from, Membership.id))]


def topics() -> list[str]:
    return list(db.session.scalars(select(OutboxMessage.topic).order_by(OutboxMessage.id)))


def test_upgrade_on_the_17th_is_prorated_exactly_and_applies_from_tomorrow(
        billing_place, tiers, clock):
    sub = subscribe(billing_place, clock)  # Flex from 17 December, 8900 a month
    quote = changes.quote_change(db.session, member=billing_place.member, tier_slug="startup",
                                 now=clock(), settings=current_billing())
    assert quote.kind is ChangeKind.UPGRADE and quote.effective_on == date(2026, 12, 18)
    assert quote.charge is not None and quote.charge.amount_cents == 2710  # 6000 x 14/31
    assert count_rows(SubscriptionChange) == 0  # a quote changes nothing

    done = change(billing_place, clock, "startup")
    assert (done.kind, done.status, done.proration_cents) == (
        ChangeKind.UPGRADE, ChangeStatus.APPLIED, 2710)
    sub = fresh_sub(sub.id)
    assert (sub.tier.slug, sub.monthly_amount_cents, sub.status) == (
        "startup", 14900, SubscriptionStatus.ACTIVE)
    proration = next(p for p in sub.periods if p.kind is PeriodKind.PRORATION)
    assert (proration.period_start, proration.period_end, proration.amount_cents,
            proration.status, proration.days_billed, proration.days_in_month) == (
        date(2026, 12, 18), date(2026, 12, 31), 2710, PeriodStatus.PAID, 14, 31)
    assert proration.net_cents + proration.tax_cents == 2710 and proration.gateway_invoice_id
    assert memberships(billing_place) == [
        ("flex", date(2026, 12, 17), date(2026, 12, 17), MembershipStatus.ACTIVE),
        ("startup", date(2026, 12, 18), None, MembershipStatus.ACTIVE),
    ]
    assert fresh_sub(sub.id).paid_through == date(2026, 12, 31)
    assert "mail.subscription_change" in topics()
    # the renewal on the 1st is at the new fee
    worker(clock, date(2027, 1, 1))
    renewal = fresh_sub(sub.id).periods[-1]
    assert (renewal.kind, renewal.amount_cents) == (PeriodKind.RENEWAL, 14900)


def test_double_submit_of_a_change_makes_one_change(billing_place, tiers, clock):
    subscribe(billing_place, clock)
    first = change(billing_place, clock, "startup")
    second = change(billing_place, clock, "startup")
    assert first.id == second.id
    assert count_rows(SubscriptionChange) == 1
    assert count_rows(BillingPeriod, kind=PeriodKind.PRORATION) == 1
    with pytest.raises(DomainError) as refused:  # one change a day
        change(billing_place, clock, "teilzeit")
    assert refused.value.code == "changed_today"


def test_downgrade_is_planned_for_the_first_and_applied_by_the_worker(
        billing_place, tiers, clock):
    sub = subscribe(billing_place, clock)
    planned = change(billing_place, clock, "teilzeit")
    assert (planned.kind, planned.status, planned.effective_on) == (
        ChangeKind.DOWNGRADE, ChangeStatus.PLANNED, date(2027, 1, 1))
    assert change(billing_place, clock, "teilzeit").id == planned.id  # a double submit
    state = changes.state(db.session, member=billing_place.member, now=clock())
    assert state.planned_change is not None and state.next_charge == (date(2027, 1, 1), 4900)
    assert fresh_sub(sub.id).tier.slug == "flex"  # nothing changes before the day
    worker(clock, date(2026, 12, 31), hour=22)
    assert fresh_sub(sub.id).tier.slug == "flex"
    worker(clock, date(2027, 1, 1), hour=0)
    sub = fresh_sub(sub.id)
    assert (sub.tier.slug, sub.monthly_amount_cents) == ("teilzeit", 4900)
    assert db.session.get(SubscriptionChange, planned.id).status is ChangeStatus.APPLIED
    renewal = sub.periods[-1]
    assert (renewal.kind, renewal.period_start, renewal.amount_cents, renewal.status) == (
        PeriodKind.RENEWAL, date(2027, 1, 1), 4900, PeriodStatus.PAID)
    assert memberships(billing_place) == [
        ("flex", date(2026, 12, 17), date(2026, 12, 31), MembershipStatus.ACTIVE),
        ("teilzeit", date(2027, 1, 1), None, MembershipStatus.ACTIVE),
    ]
    # a second pass changes nothing
    worker(clock, date(2027, 1, 1), hour=1)
    assert count_rows(Membership) == 2 and count_rows(BillingPeriod) == 2


def test_a_planned_downgrade_can_be_withdrawn_until_the_day_before(billing_place, tiers, clock):
    sub = subscribe(billing_place, clock)
    change(billing_place, clock, "teilzeit")
    clock.set(local(date(2026, 12, 30), 12))
    withdrawn = changes.withdraw_change(db.session, gateway(), member=billing_place.member,
                                        now=clock())
    assert withdrawn.status is ChangeStatus.WITHDRAWN
    worker(clock, date(2027, 1, 1))
    sub = fresh_sub(sub.id)
    assert sub.tier.slug == "flex" and sub.periods[-1].amount_cents == 8900
    with pytest.raises(DomainError) as refused:
        changes.withdraw_change(db.session, gateway(), member=billing_place.member,
                                now=clock())
    assert refused.value.code == "nothing_to_withdraw"


@pytest.mark.parametrize(("day", "ends_on"), [
    (date(2027, 1, 10), date(2027, 1, 31)),
    (date(2027, 1, 20), date(2027, 2, 28)),
])
def test_cancel_with_14_days_notice_ends_the_membership_and_stops_renewal(
        billing_place, clock, fourteen_days, day, ends_on):
    sub = subscribe(billing_place, clock)
    worker(clock, date(2027, 1, 1))
    clock.set(local(day, 11))
    quote = changes.quote_cancel(db.session, member=billing_place.member, now=clock())
    assert quote.ends_on == ends_on
    cancelled = changes.cancel(db.session, gateway(), member=billing_place.member, now=clock(),
                               expected_end=ends_on)
    assert cancelled.cancel_at == ends_on
    assert memberships(billing_place)[0][2] == ends_on  # the membership ends that day
    assert "mail.subscription_cancelled" in topics()
    # a second submit answers the same end
    again = changes.cancel(db.session, gateway(), member=billing_place.member, now=clock(),
                           expected_end=ends_on)
    assert again.cancel_at == ends_on
    assert count_rows(AuditEntry, action="subscription.cancel_requested") == 1
    # the month(s) up to the end are renewed, the one after is not
    periods_before = count_rows(BillingPeriod)
    first_after = date(ends_on.year + (ends_on.month == 12), ends_on.month % 12 + 1, 1)
    if ends_on.month == 2:
        worker(clock, date(2027, 2, 1))
        assert count_rows(BillingPeriod) == periods_before + 1
        assert fresh_sub(sub.id).status is SubscriptionStatus.ACTIVE
        periods_before += 1
    worker(clock, first_after)
    sub = fresh_sub(sub.id)
    assert sub.status is SubscriptionStatus.ENDED
    assert count_rows(BillingPeriod) == periods_before  # no renewal after the end
    flex = memberships(billing_place)[0]
    assert (flex[0], flex[2]) == ("flex", ends_on)
    worker(clock, date(first_after.year, first_after.month + 1, 1))
    assert count_rows(BillingPeriod) == periods_before


def test_a_cancellation_whose_end_moved_meanwhile_changes_nothing(
        billing_place, clock, fourteen_days):
    subscribe(billing_place, clock)
    clock.set(local(date(2026, 12, 18), 11))  # shown on the 17th: 31 Dec; now: 31 Jan
    with pytest.raises(DomainError) as refused:
        changes.cancel(db.session, gateway(), member=billing_place.member, now=clock(),
                       expected_end=date(2026, 12, 31))
    assert refused.value.code == "terms_changed"
    assert db.session.scalars(select(Subscription)).one().cancel_at is None


def test_withdrawing_the_cancellation_keeps_the_membership_running(
        billing_place, clock, fourteen_days):
    sub = subscribe(billing_place, clock)
    worker(clock, date(2027, 1, 1))
    clock.set(local(date(2027, 1, 10), 11))
    changes.cancel(db.session, gateway(), member=billing_place.member, now=clock(),
                   expected_end=None)
    clock.set(local(date(2027, 1, 25), 11))
    kept = changes.withdraw_cancellation(db.session, gateway(), member=billing_place.member,
                                         now=clock())
    assert kept.cancel_at is None
    assert memberships(billing_place)[0][2] is None
    assert "mail.subscription_cancel_withdrawn" in topics()
    worker(clock, date(2027, 2, 1))
    sub = fresh_sub(sub.id)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.periods[-1].period_start == date(2027, 2, 1)


def test_changes_refused_while_cancelled_and_for_fee_less_tiers(
        billing_place, tiers, clock):
    subscribe(billing_place, clock)
    with pytest.raises(DomainError) as refused:
        change(billing_place, clock, "day-pass")
    assert refused.value.code == "use_cancel"
    with pytest.raises(DomainError) as refused:
        change(billing_place, clock, "flex")
    assert refused.value.code == "same_tier"
    changes.cancel(db.session, gateway(), member=billing_place.member, now=clock(),
                   expected_end=None)
    with pytest.raises(DomainError) as refused:
        change(billing_place, clock, "startup")
    assert refused.value.code == "cancellation_pending"
    assert count_rows(SubscriptionChange) == 0


def test_a_day_pass_member_switches_or_ends_at_once(billing_place, factory, clock):
    other = factory.tier(signup_mode=SignupMode.SELF_SERVICE, slug="community", name="Community", monthly_price_cents=0,
                         position=5)
    factory.membership(user=billing_place.member, tier=billing_place.day_pass,
                       valid_from=date(2026, 12, 1))
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        change(billing_place, clock, "flex")
    assert refused.value.code == "signup_required"
    switched = change(billing_place, clock, "community")
    assert switched.tier_id == other.id
    assert memberships(billing_place) == [
        ("day-pass", date(2026, 12, 1), date(2026, 12, 16), MembershipStatus.ACTIVE),
        ("community", date(2026, 12, 17), None, MembershipStatus.ACTIVE),
    ]
    ended = changes.end_now(db.session, member=billing_place.member, now=clock())
    assert ended.valid_until == date(2026, 12, 17)
