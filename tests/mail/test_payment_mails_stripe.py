"""The payment mails end to end with Stripe configured: the member books and pays through
the API and the local Stripe-compatible server, Stripe's signed webhooks arrive (and arrive
again), the worker reconciles and sends. One confirmation, one receipt, one refund mail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from tests.api.conftest import api_as  # noqa: F401  (fixture)
from tests.helpers import TUE, book_via_api
from tests.payments import test_stripe_flow as flow
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    _stripe_server_process,
    deliver_all,
    stripe_config,
    stripe_server,
)

from ..mailbox import body
from .helpers import invitation, run_tick


@pytest.fixture
def app_config(stripe_config):  # noqa: F811
    return stripe_config


def topics() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(OutboxMessage.topic).where(OutboxMessage.topic.like("mail.%"))
        .order_by(OutboxMessage.id)
    ))


def test_replayed_stripe_webhooks_send_one_confirmation_one_receipt_one_refund(
    client, api_as, place, stripe_server, clock, inbox  # noqa: F811
):
    api = api_as(place.member)
    booking = book_via_api(api, "room", TUE, 10, 11)
    flow.pay(client, stripe_server, booking["id"])
    replayed = deliver_all(client, stripe_server)  # every event of the payment once more
    assert replayed and all(r.status_code == 200 for r in replayed)
    assert topics() == ["mail.booking_confirmed", "mail.payment_received"]

    run_tick(clock)
    run_tick(clock)
    confirmed, receipt = inbox.wait_for(2)
    assert confirmed["Subject"] == f"Buchung bestätigt: {place.room.name}"
    assert invitation(confirmed).method.value == "REQUEST"
    assert receipt["Subject"] == "Zahlung erhalten: 12,00\xa0€"
    assert "MwSt. (19 %): 1,92\xa0€" in body(receipt)

    # Staff give part of it back; Stripe's refund events arrive twice.
    staff = api_as(place.staff)
    response = staff.post(f"/api/v1/bookings/{booking['id']}/refunds",
                          json={"amount_cents": 700, "note": "goodwill"})
    assert response.status_code in (200, 201), response.get_json()
    deliver_all(client, stripe_server)
    deliver_all(client, stripe_server)
    run_tick(clock)
    assert topics().count("mail.refund_issued") == 1
    inbox.wait_for(3)
    assert len(inbox.messages) == 3
    refund = inbox.messages[2]
    assert refund["Subject"] == "Erstattung von 7,00\xa0€"
    assert "5 bis 10 Werktagen" in body(refund)
