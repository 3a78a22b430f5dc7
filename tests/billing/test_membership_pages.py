"""The member's pages under /membership (change, cancel, withdraw), linked from the account
page, and the staff's past-due list and member page."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from schiller40.billing.change_models import SubscriptionChange
from schiller40.billing.models import Subscription, SubscriptionStatus
from schiller40.extensions import db
from schiller40.membership.models import SignupMode
from schiller40.models import ResourceKind
from schiller40.payments.setup import gateway
from tests.helpers import count_rows, log_in, text_of, tr

from .test_service import fresh_sub, subscribe, tick


def startup_tier(factory):
    tier = factory.tier(signup_mode=SignupMode.SELF_SERVICE, slug="startup", name="Startup", monthly_price_cents=14900,
                        position=2, prices={ResourceKind.DESK: (None, 600, 1000)})
    db.session.commit()
    return tier


def test_change_and_cancel_pages_show_amounts_and_dates_before_confirming(
        billing_place, factory, client, clock):
    startup_tier(factory)
    sub = subscribe(billing_place, clock)
    log_in(client, billing_place.member)
    account = client.get("/account")
    assert 'href="/account/membership/change"' in account.get_data(as_text=True)
    assert 'href="/account/membership/cancel"' in account.get_data(as_text=True)
    page = text_of(client.get("/account/membership/change"))
    assert "27,10" in page and "149,00" in page  # charged now; new monthly fee
    assert count_rows(SubscriptionChange) == 0
    done = client.post("/account/membership/change", data={"tier": "startup"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/account#membership")
    assert fresh_sub(sub.id).tier.slug == "startup"
    cancel = text_of(client.get("/account/membership/cancel"))
    assert "31. Dezember 2026" in cancel
    client.post("/account/membership/cancel", data={"ends_on": "2026-12-31"})
    assert fresh_sub(sub.id).cancel_at == date(2026, 12, 31)
    account = text_of(client.get("/account"))
    assert tr("Cancelled: your membership ends on %(date)s.", date="31. Dezember 2026") in account
    client.post("/account/membership/cancel/withdraw")
    assert fresh_sub(sub.id).cancel_at is None


def test_english_pages_and_a_refused_change(billing_place, factory, client, clock):
    subscribe(billing_place, clock)
    log_in(client, billing_place.member)
    client.post("/language", data={"lang": "en", "next": "/"})
    answer = client.post("/account/membership/change", data={"tier": "day-pass"})
    assert answer.headers["Location"].endswith("/account/membership/change")
    page = text_of(client.get(answer.headers["Location"]))
    assert "To leave the monthly fee, cancel your membership" in page
    assert "Change your tier" in page
    assert db.session.scalars(select(Subscription)).one().tier.slug == "flex"


def test_staff_see_the_past_due_list_and_members_do_not(billing_place, client, clock):
    sub = subscribe(billing_place, clock)
    gateway().set_failing(sub.gateway_subscription_id, True, now=clock())
    tick(clock, date(2027, 1, 1))
    assert fresh_sub(sub.id).status is SubscriptionStatus.PAST_DUE
    log_in(client, billing_place.member)
    assert client.get("/staff/past-due").status_code == 404
    client.post("/logout")
    log_in(client, billing_place.staff)
    page = text_of(client.get("/staff/past-due"))
    assert "Mia Berger" in page and "89,00" in page and "04.01.2027" in page  # next retry
    assert "15.01.2027" in page  # suspended from (14 days' grace)
    member = text_of(client.get(f"/staff/members/{billing_place.member.id}"))
    assert tr("Monthly fee") in member and tr("Billed periods, newest first") in member
