"""The monthly fee's pages through the test client: sign-up, the simulated checkout with
card or SEPA, the return, the overview, the payment method, the test switch; a double submit
from racing requests makes one subscription (both databases), and the database itself
refuses a second open subscription."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from schiller40.billing.models import Subscription, SubscriptionStatus
from schiller40.core.time import to_local
from schiller40.extensions import db
from schiller40.membership.models import Membership
from tests.factories import PASSWORD
from tests.helpers import count_rows, log_in, text_of

IBAN = "DE89 3704 0044 0532 0130 00"


@pytest.fixture
def member(client, billing_place):
    log_in(client, billing_place.member)
    return client


def start_form(client, starts_on="2026-12-17", method="sepa_debit"):
    return client.post("/account/membership/monthly/flex",
                       data={"starts_on": starts_on, "payment_method": method})


def test_the_start_page_shows_the_first_and_the_monthly_amount(member):
    html = text_of(member.get("/account/membership/monthly/flex"))
    assert "43,06" in html and "89,00" in html  # 15 of 31 days; the monthly amount
    assert "1. Januar 2027" in html and "SEPA-Lastschrift" in html
    assert member.get("/account/membership/monthly/day-pass").status_code == 404  # no fee
    assert member.get("/account/membership/monthly/nope").status_code == 404


def test_a_bad_start_is_shown_beside_the_field(member):
    response = start_form(member, starts_on="2026-12-20")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="starts_on-error"' in html and 'aria-describedby="starts_on-error"' in html
    assert count_rows(Subscription) == 0


def test_sign_up_with_sepa_on_the_simulated_checkout(member, billing_place):
    response = start_form(member)
    assert response.status_code == 303
    checkout = response.headers["Location"]
    assert "/pay/simulated/cs_sim_" in checkout
    page = member.get(checkout)
    assert "43,06" in text_of(page) and "IBAN" in text_of(page)
    # an invalid IBAN and no mandate: back with the errors beside the fields
    bad = member.post(checkout, data={"action": "pay", "payment_method": "sepa_debit",
                                      "iban": "DE00 1234"})
    assert bad.status_code == 422
    assert "Bitte geben Sie eine gültige IBAN ein." in text_of(bad)
    assert "Bitte stimmen Sie dem Lastschriftmandat zu." in text_of(bad)
    paid = member.post(checkout, data={"action": "pay", "payment_method": "sepa_debit",
                                       "iban": IBAN, "mandate": "y"})
    assert paid.status_code == 303 and "/account/membership/monthly/" in paid.headers["Location"]
    back = member.get(paid.headers["Location"])
    assert back.status_code == 302 and back.headers["Location"].endswith(
        "/account/membership/subscription")
    overview = text_of(member.get("/account/membership/subscription"))
    assert "aktiv" in overview and "DE89 •••• 3000" in overview and "SIM-" in overview
    assert "89,00 € am 1. Januar 2027" in overview
    sub = db.session.scalars(select(Subscription)).one()
    assert sub.status is SubscriptionStatus.ACTIVE and sub.paid_through == date(2026, 12, 31)
    assert count_rows(Membership, subscription_id=sub.id) == 1
    # the account page links to it; the sign-up page now sends to the overview
    assert "/account/membership/subscription" in member.get("/account").get_data(as_text=True)
    assert member.get("/account/membership/monthly/flex").status_code == 302


def test_cancelling_on_the_checkout_charges_nothing(member):
    checkout = start_form(member, method="card").headers["Location"]
    back = member.post(checkout, data={"action": "cancel"})
    assert back.status_code == 303
    answer = member.get(back.headers["Location"])
    assert answer.status_code == 302 and "/account/membership/monthly/flex" in answer.headers[
        "Location"]
    assert count_rows(Membership) == 0


def test_payment_method_page_and_the_test_switch(member, app, billing_place):
    checkout = start_form(member, method="card").headers["Location"]
    member.get(member.post(checkout, data={"action": "pay", "payment_method": "card"})
               .headers["Location"])
    sub = db.session.scalars(select(Subscription)).one()
    # a member (not staff, not development) does not get the test switch
    assert member.post(f"/dev/billing/{sub.id}/fail-next").status_code == 404
    staff = app.test_client()
    log_in(staff, billing_place.staff)
    assert staff.post(f"/dev/billing/{sub.id}/fail-next").status_code == 302
    page = member.get("/account/membership/payment-method")
    assert page.status_code == 200 and "Neue Zahlungsart" in text_of(page)
    setup = member.post("/account/membership/payment-method",
                        data={"payment_method": "sepa_debit"})
    assert setup.status_code == 303 and "/pay/simulated/" in setup.headers["Location"]
    done = member.post(setup.headers["Location"], data={
        "action": "pay", "payment_method": "sepa_debit", "iban": IBAN, "mandate": "y"})
    assert done.status_code == 303
    member.get(done.headers["Location"])
    db.session.expire_all()
    sub = db.session.get(Subscription, sub.id)
    assert sub.payment_method_label == "DE89 •••• 3000" and sub.mandate_reference


def test_english(member):
    member.post("/language", data={"lang": "en", "next": "/"})
    html = text_of(member.get("/account/membership/monthly/flex"))
    assert "Pay monthly for Flex" in html and "SEPA direct debit" in html


def test_the_database_refuses_a_second_open_subscription(billing_place, clock):
    def row(status):
        return Subscription(user_id=billing_place.member.id, tier_id=billing_place.flex.id,
                            monthly_amount_cents=8900, provider="simulated", status=status,
                            starts_on=to_local(clock()).date(), created_at=clock(),
                            updated_at=clock())

    db.session.add(row(SubscriptionStatus.ENDED))
    db.session.add(row(SubscriptionStatus.ACTIVE))
    db.session.commit()
    db.session.add(row(SubscriptionStatus.INCOMPLETE))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


RACERS = 4


def test_a_double_submit_makes_one_subscription(app, billing_place):
    """Racing submits of the sign-up form (a double click, two tabs): one subscription, one
    checkout, every answer a redirect to it."""
    db.session.commit()
    # One browser (one session) submitting several times at once.
    first = FlaskClient(app, app.response_class)
    log_in(first, billing_place.member, PASSWORD)
    cookie = first.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    clients = [first]
    for _ in range(RACERS - 1):
        c = FlaskClient(app, app.response_class)
        c.set_cookie(cookie.key, cookie.value)
        clients.append(c)
    barrier = threading.Barrier(RACERS)
    answers: list = [None] * RACERS

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            r = clients[i].post("/account/membership/monthly/flex",
                                data={"starts_on": "2026-12-17", "payment_method": "card"})
            answers[i] = (r.status_code, r.headers.get("Location"))
        except BaseException as exc:  # reported below
            barrier.abort()
            answers[i] = ("exception", repr(exc))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(a is not None and a[0] == 303 for a in answers), answers
    assert len({a[1] for a in answers}) == 1, answers
    db.session.rollback()
    assert count_rows(Subscription) == 1
