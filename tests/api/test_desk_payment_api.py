"""Staff booking for a member through the API choose how it is paid (``payment``): online
(held for the staff hold, the checkout opened), at the desk (confirmed, paid, no checkout)
or on invoice (confirmed, open). Members may not choose; both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schiller40.accounts.models import User
from schiller40.extensions import db
from schiller40.payments.models import Payment, PaymentMethod, PaymentStatus
from tests.helpers import TUE, fresh, span

from .test_bookings_api import BOOKINGS, created, refused

ROOM = {"resource": "room", **span(TUE, 10, 11)}  # 12,00 € for the Flex member


def for_member(place, payment: str) -> dict:
    return {**ROOM, "on_behalf_of": place.member.id, "payment": payment}


@pytest.mark.parametrize("method", ["desk_cash", "desk_card"])
def test_paid_at_the_desk(place, staff_api, method):
    booking = created(staff_api.post(BOOKINGS, json=for_member(place, method)))
    assert booking["status"] == "confirmed"
    assert booking["payment"]["status"] == "paid"
    assert booking["payment"]["method"] == method
    assert booking["payment"]["checkout_url"] is None
    payment = fresh(Payment, booking["payment"]["id"])
    assert payment.provider == "desk" and payment.checkout_id is None
    assert payment.recorded_by_id == place.staff.id
    record = staff_api.get(f"{BOOKINGS}/{booking['id']}/payments").get_json()
    assert record["payments"][0]["method"] == method


def test_online_is_held_for_the_staff_hold_with_a_checkout(place, staff_api, clock):
    booking = created(staff_api.post(BOOKINGS, json=for_member(place, "online")))
    assert booking["status"] == "held" and booking["payment"]["method"] == "online"
    payment = fresh(Payment, booking["payment"]["id"])
    assert payment.checkout_id is not None
    assert payment.bookings[0].hold_expires_at == clock() + timedelta(hours=24)


def test_on_invoice_only_when_allowed_and_then_open(place, staff_api):
    error = refused(staff_api, 422, "invoice_not_allowed", body=for_member(place, "invoice"))
    assert "payment" in error["fields"]
    db.session.get(User, place.member.id).may_pay_on_invoice = True
    db.session.commit()
    booking = created(staff_api.post(BOOKINGS, json=for_member(place, "invoice")))
    assert booking["status"] == "confirmed"
    assert booking["payment"]["status"] == "open"
    assert booking["payment"]["method"] == "invoice"
    payment = fresh(Payment, booking["payment"]["id"])
    assert payment.status is PaymentStatus.PENDING and payment.method is PaymentMethod.INVOICE


def test_members_may_not_choose_and_staff_only_for_someone_else(place, api, staff_api):
    error = refused(api, 403, "forbidden", body={**ROOM, "payment": "desk_cash"})
    assert "payment" in error["fields"]
    error = refused(staff_api, 422, "invalid", body={**ROOM, "payment": "desk_cash"})
    assert "payment" in error["fields"]
    error = refused(staff_api, 422, "invalid", body={**for_member(place, "cheque")})
    assert "payment" in error["fields"]
