"""A confirmed request for an on-request tier with a monthly fee is billed (both databases):
staff confirm, the mail links to the monthly sign-up, the member subscribes (simulated
gateway) and only then is a member, paid monthly; nobody else can subscribe to the tier, and
the confirmation cannot be used twice. A fee-less on-request tier still starts at once."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from schiller40.billing import service
from schiller40.billing.models import Subscription, SubscriptionStatus
from schiller40.billing.settings import current_billing
from schiller40.errors import NotFound
from schiller40.extensions import db
from schiller40.membership import signup
from schiller40.membership.models import Membership, MembershipRequest, SignupMode
from schiller40.payments.setup import gateway
from tests.helpers import count_rows, log_in
from tests.mail.helpers import run_tick

from ..mailbox import body
from .conftest import urls

TODAY = date(2026, 12, 17)
MONTHLY = "/account/membership/monthly/resident"


@pytest.fixture
def resident(factory, billing_place):
    tier = factory.tier(slug="resident", name="Resident", monthly_price_cents=22900,
                        position=3, signup_mode=SignupMode.ON_REQUEST)
    db.session.commit()
    return tier


def asked(member, tier, clock) -> MembershipRequest:
    return signup.request_tier(db.session, member=member, tier_id=tier.id, message="",
                               now=clock())


def confirmed(billing_place, request, clock, day=TODAY) -> MembershipRequest:
    return signup.confirm_request(db.session, actor=billing_place.staff, request_id=request.id,
                                  valid_from=day, now=clock())


def test_confirm_mail_subscribe_active_and_billed(client, app, billing_place, resident, clock,
                                                 inbox, factory):
    member = billing_place.member
    request = asked(member, resident, clock)
    log_in(client, member)
    assert client.get(MONTHLY).status_code == 404  # asked, not yet confirmed

    confirmed(billing_place, request, clock)
    db.session.expire_all()
    request = db.session.get(MembershipRequest, request.id)
    assert request.awaits_payment and request.starts_on == TODAY
    assert count_rows(Membership) == 0  # no free membership
    run_tick(clock)
    mail = body(inbox.only())
    assert "/account/membership/monthly/resident\r\n" in mail

    page = client.get("/account/membership").get_data(as_text=True)
    assert f'href="{MONTHLY}"' in page
    start = client.get(MONTHLY)
    assert start.status_code == 200
    # the day staff chose is chosen already
    assert re.search(r'<input checked[^>]*value="2026-12-17"', start.get_data(as_text=True))

    response = client.post(MONTHLY, data={"starts_on": "2026-12-17", "payment_method": "card"})
    assert response.status_code == 303
    paid = client.post(response.headers["Location"],
                       data={"action": "pay", "payment_method": "card"})
    client.get(paid.headers["Location"])
    sub = db.session.scalars(select(Subscription)).one()
    assert sub.status is SubscriptionStatus.ACTIVE and sub.tier_id == resident.id
    assert sub.monthly_amount_cents == 22900 and sub.paid_through == date(2026, 12, 31)
    membership = db.session.scalars(select(Membership)).one()
    assert (membership.tier_id, membership.subscription_id, membership.valid_from) == (
        resident.id, sub.id, TODAY)
    db.session.expire_all()
    assert db.session.get(MembershipRequest, request.id).membership_id == membership.id

    # used: the tier is not sold to the member again, the page no longer offers it
    assert signup.awaiting_payment(db.session, member.id) is None
    with pytest.raises(NotFound):
        service.monthly_tier(db.session, "resident", member.id)
    assert f'href="{MONTHLY}"' not in client.get("/account/membership").get_data(as_text=True)


def test_the_confirmation_cannot_be_used_twice(billing_place, resident, clock):
    member = billing_place.member
    confirmed(billing_place, asked(member, resident, clock), clock)
    settings = current_billing()
    sub = service.start_subscription(
        db.session, gateway(), member=member, tier_id=resident.id, starts_on=TODAY,
        payment_method="card", now=clock(), settings=settings, urls=urls)
    gateway().complete_subscription_checkout(sub.checkout_id, payment_method="card", iban=None,
                                             now=clock())
    service.refresh_checkout(db.session, gateway(), subscription_id=sub.id, now=clock(),
                             settings=settings)
    service.end_now(db.session, gateway(), user_id=member.id, now=clock(), reason="test")
    with pytest.raises(NotFound):
        service.start_subscription(
            db.session, gateway(), member=member, tier_id=resident.id,
            starts_on=date(2027, 1, 1), payment_method="card", now=clock(),
            settings=settings, urls=urls)
    assert count_rows(Subscription) == 1


def test_nobody_else_can_subscribe_to_the_tier(client, factory, billing_place, resident, clock):
    confirmed(billing_place, asked(billing_place.member, resident, clock), clock)
    other = factory.user(email="otto@example.org")
    db.session.commit()
    log_in(client, other)
    assert client.get(MONTHLY).status_code == 404
    response = client.post(MONTHLY, data={"starts_on": "2026-12-17", "payment_method": "card"})
    assert response.status_code == 404
    with pytest.raises(NotFound):
        service.start_subscription(
            db.session, gateway(), member=other, tier_id=resident.id, starts_on=TODAY,
            payment_method="card", now=clock(), settings=current_billing(), urls=urls)
    assert count_rows(Subscription) == 0


def test_a_fee_less_on_request_tier_starts_at_once(billing_place, factory, clock, inbox):
    free = factory.tier(slug="alumni", name="Alumni", monthly_price_cents=0,
                        signup_mode=SignupMode.ON_REQUEST)
    db.session.commit()
    request = confirmed(billing_place, asked(billing_place.member, free, clock), clock)
    db.session.expire_all()
    request = db.session.get(MembershipRequest, request.id)
    assert not request.awaits_payment
    assert request.membership.tier_id == free.id and request.membership.valid_from == TODAY
    run_tick(clock)
    assert "/account/membership/monthly/" not in body(inbox.only())
